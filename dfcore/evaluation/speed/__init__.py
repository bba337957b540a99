"""Speed measurements: ``make bench`` (per-stage timings against the seed design, the frames slider, the speed
targets), long 4K clips in fresh processes (peak memory), videos per minute of the batch runner, and what
searching fewer frames for the face, or moving samples to reference pictures, changes."""
