// PorterFeeds
