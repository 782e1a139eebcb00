// PorterOps
