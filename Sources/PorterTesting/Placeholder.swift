// PorterTesting
