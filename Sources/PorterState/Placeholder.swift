// PorterState
