import ArgumentParser
import PorterHost
import PorterImages

/// `porter sample-images DIR`: writes the demo's sample source images.
struct SampleImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample-images", abstract: "Write sample images (JPEG, PNG with alpha, WebP) for the demo.")
    @Argument(help: "Directory to write into.") var directory: String

    func run() throws {
        let names = try SampleImages.write(to: directory)
        print("wrote \(names.joined(separator: ", ")) to \(directory)")
    }
}
