import PorterFeeds
import PorterHost
import PorterOps
import PorterState

/// The `porter-slim` executable: feeds, state and ops, without the image feature (no libvips linked) and without
/// the demo. The slim Docker image (deploy/Dockerfile.slim) ships it with deploy/porter-slim.toml.
@main
enum PorterSlimExecutable {
    static func main() async {
        var app = PorterApplication(name: "porter")
        app.add(FeedsFeature())
        app.add(StateFeature())
        app.add(OpsFeature())
        await app.main()
    }
}
