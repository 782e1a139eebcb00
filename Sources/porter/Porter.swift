import PorterDemo
import PorterHost

/// The `porter` executable: every built-in feature plus the demo.
@main
enum PorterExecutable {
    static func main() async {
        await PorterApplication.porter.main()
    }
}
