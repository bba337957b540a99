"""The GPU recipe: a bundle packed on the CPU (bundle), trained on one GPU (run)."""
