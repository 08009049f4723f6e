// The history strip under the analysis page: the viewer's earlier finished results on this
// dataset, newest first, each with its thumbnail, analysis, parameters and time. A click puts
// a result back on the page (its parameters in the form and the detector shapes, its image from
// the stored result, nothing computed again); "Pin" puts it into the comparison below.

import { jobApi, jobsOf } from "./jobclient.js";
import { Comparison, caption } from "./compare.js";

const ITEMS = 24;

export class HistoryStrip {
  /**
   * ``root``: an empty element; ``canRestore(job)``: whether the page can show the job's
   * parameters again; ``onRestore(job)``: put it back on the page.
   */
  constructor(root, { cfg, canRestore, onRestore }) {
    this.root = root;
    this.cfg = cfg;
    this.canRestore = canRestore;
    this.onRestore = onRestore;
    this.jobs = [];
    this.current = null;
    this.seq = 0; // list reads; an older answer is dropped
    this.root.innerHTML = `
      <header class="hs-head">
        <h2>Earlier results</h2>
        <span class="muted hs-hint">Click one to go back to it (its parameters and image, not run again); pin two to compare them.</span>
      </header>
      <ol class="hs-list" aria-label="Earlier results on this dataset, newest first"></ol>
      <p class="muted hs-empty">Your finished jobs on this dataset will be listed here.</p>
      <section class="cmp" aria-label="Pinned results" hidden></section>`;
    this.list = this.root.querySelector(".hs-list");
    this.compare = new Comparison(this.root.querySelector(".cmp"), {
      analyses: cfg.analyses,
      onUnpin: () => this.render(),
    });
  }

  /** Read the list again (after a job finished); resolves when it is on screen. */
  async refresh() {
    const seq = ++this.seq;
    let jobs;
    try {
      const filters = { dataset: this.cfg.dataset.id, owner: this.cfg.user, status: "finished", limit: ITEMS };
      jobs = jobsOf(await jobApi.list(filters));
    } catch {
      return; // the strip is an extra: the page works without it, the next finish tries again
    }
    if (seq !== this.seq) return; // a newer read is on its way
    this.jobs = jobs.filter((j) => ["analysis", "reused"].includes(j.kind) && j.thumbnail && this.canRestore(j));
    this.render();
  }

  /** Mark the job the page shows. */
  setCurrent(jobId) {
    this.current = jobId;
    for (const li of this.list.children) {
      li.classList.toggle("hs-current", Number(li.dataset.job) === jobId);
    }
  }

  render() {
    this.root.querySelector(".hs-empty").hidden = this.jobs.length > 0;
    // Items on screen stay where they are (moving an image that is still loading would abort
    // its request); new ones go in at their place, gone ones go.
    const shown = new Map([...this.list.children].map((li) => [Number(li.dataset.job), li]));
    const wanted = this.jobs.map((job) => shown.get(job.id) || this.item(job));
    wanted.forEach((li, i) => {
      if (this.list.children[i] !== li) this.list.insertBefore(li, this.list.children[i] || null);
    });
    while (this.list.children.length > wanted.length) this.list.lastElementChild.remove();
    for (const li of this.list.children) this.showPin(li);
    this.setCurrent(this.current);
  }

  item(job) {
    const li = document.createElement("li");
    li.className = "hs-item";
    li.dataset.job = String(job.id);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "hs-open";
    open.title = `Show ${caption(job)} again`;
    const img = document.createElement("img");
    Object.assign(img, { width: 64, height: 64, alt: "", src: job.thumbnail });
    const title = span("hs-title", `${job.analysis} #${job.id}`);
    const summary = span("hs-summary", job.summary || "no parameters");
    const time = document.createElement("time");
    time.dateTime = job.created;
    time.textContent = when(job.created);
    open.append(img, title, summary, time);
    open.addEventListener("click", () => this.onRestore(job));
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "secondary small hs-pin";
    pin.addEventListener("click", () => this.togglePin(job));
    li.append(open, pin);
    return li;
  }

  showPin(li) {
    const pinned = this.compare.isPinned(Number(li.dataset.job));
    const pin = li.querySelector(".hs-pin");
    pin.textContent = pinned ? "Unpin" : "Pin";
    pin.setAttribute("aria-pressed", String(pinned));
    pin.title = pinned ? "Take it out of the comparison" : "Compare it with another pinned result";
  }

  async togglePin(job) {
    if (this.compare.isPinned(job.id)) this.compare.unpin(job.id);
    else {
      const loading = this.compare.pin(job);
      this.render();
      await loading;
    }
    this.render();
  }
}

function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

/** "14:05:09" today, "3 Dec 14:05" before. */
function when(iso) {
  const t = new Date(iso);
  const today = new Date().toDateString() === t.toDateString();
  const clock = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const time = t.toLocaleTimeString([], today ? { ...clock, second: "2-digit" } : clock);
  return today ? time : `${t.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}
