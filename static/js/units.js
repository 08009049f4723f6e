// Physical units on the analysis page. The dataset's pixel size (cfg.dataset.pixel_size: a
// scan step in nm, a detector pixel in mrad or 1/nm, or null) turns pixels into lengths and
// angles; a result's declared unit (Result.unit) says what its values are.

/** ``value`` of ``units`` as text, lengths in nm or µm as suits their size: "750 nm", "1.5 µm". */
export function formatQuantity(value, units) {
  if (units === "nm" && Math.abs(value) >= 1000) return `${formatNumber(value / 1000)} µm`;
  return `${formatNumber(value)} ${units}`;
}

/** A number with at most four significant digits, without trailing zeros. */
export function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Pixels of a square pixel ``size`` ({x, y, units}) in its units, or null. */
function squareStep(size) {
  return size && size.x === size.y ? size.x : null;
}

/**
 * What the values of a result (its declaration ``result``, or null for a data frame) are in:
 * ``{label, physical}`` where ``physical`` = {units, scale} converts a value (value × scale)
 * for results in detector pixels when the detector is calibrated (COM shifts in mrad).
 */
export function valueUnit(result, pixelSize, dtype, calibrated = null) {
  const unit = result ? result.unit : "data";
  const detector = squareStep(pixelSize && pixelSize.detector);
  const scan = squareStep(pixelSize && pixelSize.scan);
  if (unit === "data") return { label: /[iu]\d|\|b1/.test(dtype || "") ? "counts" : "data units", physical: null };
  if (unit === "px" && detector) return { label: "px", physical: { units: pixelSize.detector.units, scale: detector } };
  if (unit === "px per scan px" && detector && scan) {
    return { label: unit, physical: { units: `${pixelSize.detector.units} per nm`, scale: detector / scan } };
  }
  if (unit === "scan px" && scan) return { label: unit, physical: { units: pixelSize.scan.units, scale: scan } };
  // parallax's defocus: scan px per detector px, Δf = D × step / θ_px (θ_px in rad)
  if (unit === "scan px per px" && detector && scan && pixelSize.detector.units === "mrad") {
    return { label: unit, physical: { units: "nm", scale: scan / (detector * 1e-3) } };
  }
  if (unit === "px × scan px") return { label: unit, physical: phaseScale(pixelSize, calibrated) };
  return { label: unit || "", physical: null };
}

/** The relativistic electron wavelength in nm at ``kev`` (as apps/core/optics.py). */
export function electronWavelength(kev) {
  return 1.23984198 / Math.sqrt(kev * (kev + 2 * 510.99895));
}

/** An integrated shift (com's phases, px × scan px) in rad, ``2π/λ · angle · length``, where the
 * beam energy, pixel and step are known; else in mrad × nm where the pixel and step are. */
function phaseScale(pixelSize, calibrated) {
  const c = calibrated || {};
  if (c.beam_energy && c.detector_pixel && c.scan_step) {
    const scale = (2 * Math.PI / electronWavelength(c.beam_energy)) * c.detector_pixel * 1e-3 * c.scan_step;
    return { units: "rad", scale };
  }
  const detector = squareStep(pixelSize && pixelSize.detector);
  const scan = squareStep(pixelSize && pixelSize.scan);
  return detector && scan ? { units: `${pixelSize.detector.units} × nm`, scale: detector * scan } : null;
}

/** "1.5 px = 0.375 mrad", or the plain value with its unit label. */
export function formatWithUnit(value, unit) {
  const plain = unit && unit.label ? `${formatNumber(value)} ${unit.label}` : formatNumber(value);
  if (!unit || !unit.physical || !Number.isFinite(value)) return plain;
  return `${plain} = ${formatQuantity(value * unit.physical.scale, unit.physical.units)}`;
}

/** The caption of a colour bar's unit: "px (1 px = 0.25 mrad)". */
export function unitCaption(unit) {
  if (!unit || !unit.label) return "";
  if (!unit.physical) return unit.label;
  return `${unit.label} (1 ${unit.label} = ${formatQuantity(unit.physical.scale, unit.physical.units)})`;
}

/**
 * The read-out of the scan view: the pixel, its position in nm where calibrated, the value.
 * ``size`` is the scan step ({x, y, units}) or null.
 */
export function scanReadout({ x, y, value }, size, unit) {
  const where = size ? ` (${formatQuantity(y * size.y, size.units)}, ${formatQuantity(x * size.x, size.units)})` : "";
  return `y ${y}, x ${x}${where}: ${formatWithUnit(value, unit)}`;
}

/**
 * The read-out of the detector view: the pixel, and where calibrated its distance from
 * ``centre`` ({cy, cx}: the shape's centre, else the frame's) in mrad or 1/nm.
 */
export function detectorReadout({ x, y, value }, size, unit, centre) {
  let where = "";
  if (size && centre) {
    const dy = (y - centre.cy) * size.y, dx = (x - centre.cx) * size.x;
    where = ` (${formatQuantity(Math.hypot(dy, dx), size.units)} from ${centre.label})`;
  }
  return `y ${y}, x ${x}${where}: ${formatWithUnit(value, unit)}`;
}

/** "r 14 px = 3.5 mrad · ro 40 px = 10 mrad": the lengths among a shape's parameters. */
export function physicalParams(params, values, size) {
  const step = squareStep(size);
  if (!step) return "";
  return params
    .filter((p) => p.unit === "px" && !POSITIONS.has(p.name) && Number.isFinite(values[p.name]))
    .map((p) => `${p.name} ${formatNumber(values[p.name])} px = ${formatQuantity(values[p.name] * step, size.units)}`)
    .join(" · ");
}

// parameters in detector pixels that are positions, not lengths: no physical size alone
const POSITIONS = new Set(["cx", "cy", "x", "y"]);
