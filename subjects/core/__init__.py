"""The request core: what every other floor of ``subjects`` stands on."""
