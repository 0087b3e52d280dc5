"""What every stage shares: plain text for the command line (more moves here with the layout)."""
