"""Books360 <-> QuickBooks Online sync: the code every Lambda function shares (the layer's package)."""
