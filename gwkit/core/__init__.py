"""What every stage shares: errors, atomic files and the file-system boundary,
self-contained HDF5, output sets, run locks, data locations, devices and threads,
distributed set-up, the Kaggle client, the commands' entry (cli) and plain command-line text."""
