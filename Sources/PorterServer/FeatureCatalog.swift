import Porter

/// Registers the feature handlers (feeds, images, identity, operations) as they become available.
func registerFeatureHandlers(_ catalog: inout HandlerCatalog) {}

/// Registers the feature modules (identity, authorization, session, trace, metrics).
func registerFeatureModules(_ catalog: inout ModuleCatalog) {}
