"""The citizen's pages."""
