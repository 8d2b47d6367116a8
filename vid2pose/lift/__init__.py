"""2D keypoint sequences -> metric 3D poses (windows, normalisation, flip, metric scale, root trajectory)."""
