public import PorterHost
public import ArgumentParser
import Porter

/// On-the-fly image resizing with libvips: the `image` handler.
public struct ImagesFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "images" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("image", summary: "resizes images with libvips: ?p=PRESET, or signed ?w=&h=&fit=&fmt=&q=&dpr= (options: root, presets, keys, keys_file, keys_env, allow_unsigned, …)",
                                  edge: { _ in EdgePolicy(staticUnlessQuery: "@porter_image", maxBodyBytes: 0) }) { options, _ in
            .instance(.async(try ImageHandler(options: options)))
        }
    }

    public var commands: [any ParsableCommand.Type] { [ImageURLCommand.self] }
}
