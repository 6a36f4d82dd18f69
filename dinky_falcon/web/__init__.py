"""The HTTP side: resources and the pages they serve."""
