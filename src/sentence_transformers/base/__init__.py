"""Building blocks shared by every model type: the module bases, hub access and the on-disk format."""
