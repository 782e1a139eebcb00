public import PorterHost
import Porter

/// On-the-fly image resizing with libvips: the `image` handler.
public struct ImagesFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "images" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("image", summary: "resizes images with libvips: ?w=&h=&fit=&fmt=&q=&dpr= (options: root, keys, keys_file, keys_env, max_source_pixels, …)",
                                  edge: { _ in EdgePolicy(staticUnlessQuery: "@porter_image") }) { options, _ in
            .instance(.async(try ImageHandler(options: options)))
        }
    }
}
