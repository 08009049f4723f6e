"""Example analyses for LiberTEM Portal, installed as a plugin (docs/plugins.md).

* ``bright_pixels`` (:mod:`.bright`): per scan position, how many pixels of the frame are above
  a threshold: a map of diffraction intensity spread (or of counted electrons per frame).
* ``hot_pixels`` (:mod:`.hot`): per detector pixel, the fraction of frames in which it is above
  a threshold: hot or stuck pixels are near 1 everywhere, real signal only where it belongs.
"""
