// The dataset's calibration on the two image views: a scale bar on each calibrated image, and
// read-outs of the pixel under the cursor in nm (scan) or in mrad or 1/nm from the beam centre
// (detector), with the value in its unit (and in mrad for shifts in detector pixels).

import { ScaleBar } from "./scalebar.js";
import { detectorReadout, scanReadout, valueUnit } from "./units.js";

/**
 * ``pixelSize`` is cfg.dataset.pixel_size; ``centre()`` gives the detector point distances are
 * measured from ({cy, cx, label}).
 */
export function calibrateViews({ scanView, detectorView, pixelSize, dtype, centre }) {
  const scan = pixelSize ? pixelSize.scan : null;
  const detector = pixelSize ? pixelSize.detector : null;
  if (scan) scanView.overlays.push(new ScaleBar(scan));
  if (detector) detectorView.overlays.push(new ScaleBar(detector));
  detectorView.valueUnit = valueUnit(null, pixelSize, dtype); // frames: the data's own unit
  scanView.formatReadout = (p) => scanReadout(p, scan, scanView.valueUnit);
  detectorView.formatReadout = (p) => detectorReadout(p, detector, detectorView.valueUnit, detector && centre());
}
