"""Platform × variant matrices: the same plan measured on several machines, merged into one
table that compares variants within each platform and each variant across platforms."""
