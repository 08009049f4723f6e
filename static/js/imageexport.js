// The figure export: what an image view shows (the part of the image on screen, coloured as on
// screen) with its scale bar and colour bar, at a chosen width, as PNG (pixels) or SVG (the
// image embedded pixel for pixel; bars, ticks and text as vector shapes). One layout serves
// both formats, so they show the same figure.

import { barLabels, captionText, fittingLabels, gradientCanvas, textMeasure } from "./colorbar.js";
import { ScaleBar, chooseScaleBar, paintScaleBar, scaleBarBox } from "./scalebar.js";

/** The widths offered: the image as large as on screen, or a fixed figure width in pixels. */
export const EXPORT_WIDTHS = [["screen", "as on screen"], ["800", "800 px"], ["1600", "1600 px"], ["3200", "3200 px"]];

/** Save ``view``'s figure as ``format`` ("png" or "svg") ``width`` px wide ("screen": as shown). */
export async function exportFigure(view, { format, width }) {
  if (!view.image) return;
  const layout = figureLayout(view, width);
  const blob = format === "svg"
    ? new Blob([figureSvg(view, layout)], { type: "image/svg+xml" })
    : await new Promise((resolve) => figureCanvas(view, layout).toBlob(resolve, "image/png"));
  save(blob, `${view.exportName || "image"}.${format}`);
}

/** The part of the image on screen, in image pixels: {sx, sy, sw, sh}. */
export function visibleRegion(view) {
  const { scale, ox, oy } = view.transform();
  const { width: w, height: h } = view.image;
  const { clientWidth: W, clientHeight: H } = view.root;
  const sx = Math.max(0, -ox / scale), sy = Math.max(0, -oy / scale);
  const ex = Math.min(w, (W - ox) / scale), ey = Math.min(h, (H - oy) / scale);
  return { sx, sy, sw: Math.max(ex - sx, 1e-9), sh: Math.max(ey - sy, 1e-9) };
}

/**
 * Where everything goes in a figure ``width`` px wide: the image on top (its full width), the
 * scale bar on it, the colour bar and its caption below.
 */
export function figureLayout(view, width) {
  const region = visibleRegion(view);
  const dpr = window.devicePixelRatio || 1;
  const W = width === "screen" ? Math.round(region.sw * view.scale * dpr) : Number(width);
  const H = Math.round(W * (region.sh / region.sw));
  const u = Math.max(1, W / 500); // the size of one "point" of text and bars
  const layout = { width: W, imageHeight: H, u, region, scaleBar: null, colourBar: null };
  const overlay = view.overlays.find((o) => o instanceof ScaleBar);
  if (overlay) {
    const bar = chooseScaleBar(overlay.size.x, overlay.size.units, W / region.sw, W / 5);
    layout.scaleBar = { bar, box: scaleBarBox(bar, W, H, u) };
  }
  const state = view.colourBar ? view.colourBar.state : null;
  let y = H + 10 * u;
  if (state) {
    const pad = 24 * u, font = 11 * u;
    const measure = textMeasure(`${font}px system-ui, sans-serif`);
    layout.colourBar = {
      state, x: pad, y, w: W - 2 * pad, h: 12 * u, font,
      labels: fittingLabels(barLabels(state.mapping), W - 2 * pad, measure, 8 * u),
      caption: captionText(state),
    };
    y += 12 * u + 4 * u + 14 * u + 16 * u;
  } else if (view.rgb && view.rgbCaption) {
    layout.caption = view.rgbCaption;
    y += 14 * u;
  }
  layout.height = Math.round(y + 6 * u);
  return layout;
}

/** The figure drawn into a new canvas. */
export function figureCanvas(view, layout) {
  const canvas = document.createElement("canvas");
  canvas.width = layout.width;
  canvas.height = layout.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false; // pixels as pixels, as on screen
  const { sx, sy, sw, sh } = layout.region;
  ctx.drawImage(view.offscreen, sx, sy, sw, sh, 0, 0, layout.width, layout.imageHeight);
  if (layout.scaleBar) paintScaleBar(ctx, layout.scaleBar.bar, layout.scaleBar.box);
  const cb = layout.colourBar;
  if (cb) {
    ctx.drawImage(gradientCanvas(cb.state.cmap), 0, 0, 256, 1, cb.x, cb.y, cb.w, cb.h);
    ctx.strokeStyle = "#334155";
    ctx.lineWidth = Math.max(1, layout.u / 2);
    ctx.strokeRect(cb.x, cb.y, cb.w, cb.h);
    ctx.fillStyle = "#0f172a";
    ctx.font = `${cb.font}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    for (const label of cb.labels) {
      const x = cb.x + label.t * cb.w;
      ctx.fillRect(x - ctx.lineWidth / 2, cb.y + cb.h, ctx.lineWidth, 4 * layout.u);
      ctx.textAlign = { start: "left", middle: "center", end: "right" }[label.align];
      ctx.fillText(label.text, x, cb.y + cb.h + 5 * layout.u);
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#475569";
    ctx.fillText(cb.caption, cb.x, cb.y + cb.h + 5 * layout.u + 16 * layout.u);
  } else if (layout.caption) {
    ctx.fillStyle = "#475569";
    ctx.font = `${11 * layout.u}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(layout.caption, 8 * layout.u, layout.imageHeight + 6 * layout.u);
  }
  return canvas;
}

/** The figure as an SVG document (the image and the colour map embedded as PNG). */
export function figureSvg(view, layout) {
  const { width: W, height, imageHeight: H, u } = layout;
  const { sx, sy, sw, sh } = layout.region;
  const { width: w, height: h } = view.image;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<svg width="${W}" height="${H}" viewBox="${sx} ${sy} ${sw} ${sh}" preserveAspectRatio="none">`,
    `<image width="${w}" height="${h}" href="${view.offscreen.toDataURL("image/png")}" style="image-rendering:pixelated" preserveAspectRatio="none"/></svg>`,
  ];
  const font = (size) => `font-family="system-ui, sans-serif" font-size="${size}"`;
  if (layout.scaleBar) {
    const { bar, box } = layout.scaleBar;
    parts.push(
      `<rect x="${box.x - 1}" y="${box.y - 1}" width="${box.w + 2}" height="${box.h + 2}" fill="#000" fill-opacity="0.75"/>`,
      `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="#fff"/>`,
      `<text x="${box.textX}" y="${box.textY}" text-anchor="middle" ${font(box.font)} fill="#fff" stroke="#000" stroke-opacity="0.8" stroke-width="${box.font / 4}" paint-order="stroke">${escape(bar.label)}</text>`,
    );
  }
  const cb = layout.colourBar;
  if (cb) {
    parts.push(
      `<image x="${cb.x}" y="${cb.y}" width="${cb.w}" height="${cb.h}" href="${gradientCanvas(cb.state.cmap).toDataURL("image/png")}" style="image-rendering:pixelated" preserveAspectRatio="none"/>`,
      `<rect x="${cb.x}" y="${cb.y}" width="${cb.w}" height="${cb.h}" fill="none" stroke="#334155" stroke-width="${Math.max(1, u / 2)}"/>`,
    );
    for (const label of cb.labels) {
      const x = cb.x + label.t * cb.w;
      parts.push(
        `<line x1="${x}" y1="${cb.y + cb.h}" x2="${x}" y2="${cb.y + cb.h + 4 * u}" stroke="#0f172a" stroke-width="${Math.max(1, u / 2)}"/>`,
        `<text x="${x}" y="${cb.y + cb.h + 5 * u}" text-anchor="${label.align}" dominant-baseline="hanging" ${font(cb.font)} fill="#0f172a">${escape(label.text)}</text>`,
      );
    }
    parts.push(`<text x="${cb.x}" y="${cb.y + cb.h + 21 * u}" dominant-baseline="hanging" ${font(cb.font)} fill="#475569">${escape(cb.caption)}</text>`);
  } else if (layout.caption) {
    parts.push(`<text x="${8 * u}" y="${H + 6 * u}" dominant-baseline="hanging" ${font(11 * u)} fill="#475569">${escape(layout.caption)}</text>`);
  }
  parts.push("</svg>");
  return parts.join("\n");
}

function escape(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Save ``blob`` as a download named ``name``. */
export function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
