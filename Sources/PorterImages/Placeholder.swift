// PorterImages
