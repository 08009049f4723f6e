// A form with data-confirm="question" is submitted only when the user agrees (the
// Content-Security-Policy forbids inline onsubmit handlers, so this listens for all forms).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
