"""What every stage shares: errors, atomic files, data locations, devices and threads,
distributed set-up, the Kaggle client and plain command-line text."""
