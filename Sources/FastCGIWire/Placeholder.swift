// FastCGIWire
