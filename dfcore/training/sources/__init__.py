"""Where the training data comes from: dataset readers, the face cache, the calibration and validation pools."""
