/// tpudeploy's version. This line is its one definition: the Makefile reads it (`make deb` names the package
/// `tpudeploy_<number>_amd64.deb`) and the binary compiles it in.
public enum ToolVersion {
    public static let number = "0.1.0"
}
