import CLibSSH

/// The version of the libssh linked into this binary (statically in the .deb), as the library reports it.
public enum LibSSHVersion {
    public static var running: String {
        guard let text = ssh_version(0) else { return "unknown" }
        // "0.10.6/openssl/zlib": the version, then the crypto backend and compression it was built with.
        return String(cString: text)
    }
}
