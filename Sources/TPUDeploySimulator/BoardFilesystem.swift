import Foundation

/// The host-side state directory of one board: everything the board's init binds over its own `/boot`,
/// `/data`, `/opt/sophon`, `/home`, `/etc/passwd`…, its SSH server's keys and configuration, and the files
/// through which the host and the board talk (`status`, `faults`, `npu_used_bytes`, `live-heaps`).
struct BoardFilesystem: Sendable {
    let directory: URL

    static let linaroUID = 1000
    static let linaroPassword = "linaro"

    var bootDirectory: URL { file("boot") }
    var statusFile: URL { file("status") }
    var faultsFile: URL { file("faults") }
    var bootLog: URL { file("boot.log") }
    var hostPublicKey: URL { file("ssh/ssh_host_ed25519_key.pub") }
    var initScript: URL { file("init/board-init.sh") }
    var liveHeapsFile: URL { file("live-heaps") }
    var meminfoFile: URL { file("meminfo") }

    func file(_ path: String) -> URL { directory.appendingPathComponent(path) }

    /// Lays out a new board: its directories, `/etc` files, tools, sshd configuration and host key.
    func create(name: String, dtbName: String, bootDelay: Double, image: SimulatedSoCImage, clientPublicKey: String) throws {
        let manager = FileManager.default
        for path in ["init", "usr-local-bin", "usr-local-sbin", "etc", "data", "home/linaro", "root", "boot",
                     "firmware", "debugfs", "ssh/authorized_keys"] {
            try manager.createDirectory(at: file(path), withIntermediateDirectories: true)
        }
        for path in ["data", "home/linaro"] {
            try setOwner(file(path), uid: Self.linaroUID, gid: Self.linaroUID, mode: 0o755)
        }
        try setMode(file("root"), 0o700)
        try setMode(file("debugfs"), 0o700)

        let resources = try SimulatorResources.boardToolsDirectory()
        try install(resources.appendingPathComponent("board-init.sh"), as: "init/board-init.sh")
        try install(resources.appendingPathComponent("boot.sh"), as: "init/boot.sh")
        try install(resources.appendingPathComponent("reboot"), as: "usr-local-sbin/reboot")
        try install(resources.appendingPathComponent("reboot"), as: "usr-local-sbin/poweroff")
        try installSophonSoftware(image, tools: resources)
        try installRuntime(libsophon: image.libsophon)

        try write("board.env", """
            BOARD_NAME=\(name)
            BOARD_DTB=\(dtbName)
            BOOT_DELAY=\(String(format: "%.3f", bootDelay))
            LIBSOPHON_VERSION=\(image.libsophon)
            DRIVER_VERSION=\(image.driver)

            """)
        try write("status", "booting\n")
        try write("faults", "")
        try write("npu_used_bytes", "0\n", mode: 0o666)
        try write("meminfo", "", mode: 0o444)
        try write("live-heaps", "")
        try writeEtc(name: name)
        try writeSSH(clientPublicKey: clientPublicKey)
    }

    /// The board's own users (root, the system accounts sshd needs, linaro with sudo), hosts, sudoers, os-release.
    private func writeEtc(name: String) throws {
        let hostPasswd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        let hostGroup = (try? String(contentsOfFile: "/etc/group", encoding: .utf8)) ?? ""
        // System accounts of the host (sshd's privilege separation user among them), never its real users.
        let systemUsers = hostPasswd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
            .filter { $0.count == 7 && $0[0] != "linaro" && (Int($0[2]).map { $0 < 1000 || $0 == 65534 } ?? false) }
        var passwd = systemUsers.map { $0.joined(separator: ":") }
        passwd.append("linaro:x:\(Self.linaroUID):\(Self.linaroUID):linaro:/home/linaro:/bin/bash")
        var shadow = systemUsers.map { "\($0[0]):*:19500:0:99999:7:::" }
        let hash = try CommandRunner.run("openssl", ["passwd", "-6", "-stdin"], input: Data(Self.linaroPassword.utf8))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        shadow.append("linaro:\(hash):19500:0:99999:7:::")
        var groups = hostGroup.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count == 4 && $0[0] != "linaro" && (Int($0[2]).map { $0 < 1000 || $0 == 65534 } ?? false) }
        for index in groups.indices where ["sudo", "adm", "video", "dialout"].contains(groups[index][0]) {
            groups[index][3] = groups[index][3].isEmpty ? "linaro" : groups[index][3] + ",linaro"
        }
        groups.append(["linaro", "x", String(Self.linaroUID), ""])

        try write("etc/passwd", passwd.joined(separator: "\n") + "\n", mode: 0o644)
        try write("etc/shadow", shadow.joined(separator: "\n") + "\n", mode: 0o640)
        try write("etc/group", groups.map { $0.joined(separator: ":") }.joined(separator: "\n") + "\n", mode: 0o644)
        try write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\t\(name)\n::1\tlocalhost ip6-localhost ip6-loopback\n", mode: 0o644)
        try write("etc/hostname", "\(name)\n", mode: 0o644)
        try write("etc/sudoers", """
            # sudoers of a simulated BM1684X board (tpudeploy simulator)
            Defaults\tenv_reset
            Defaults\tlecture=never
            Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            root\tALL=(ALL:ALL) ALL
            %sudo\tALL=(ALL:ALL) ALL
            linaro\tALL=(ALL:ALL) ALL

            """, mode: 0o440)
        // Run at every boot by the board's init, as rc-local.service does on Ubuntu: how services start on a
        // board without systemd.
        try write("etc/rc.local", "#!/bin/sh -e\n# rc.local of a simulated BM1684X board\nexit 0\n", mode: 0o755)
        try write("etc/os-release", """
            NAME="Ubuntu"
            VERSION="20.04.6 LTS (Focal Fossa)"
            ID=ubuntu
            ID_LIKE=debian
            PRETTY_NAME="Ubuntu 20.04.6 LTS"
            VERSION_ID="20.04"
            HOME_URL="https://www.ubuntu.com/"
            SUPPORT_URL="https://help.ubuntu.com/"
            BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
            VERSION_CODENAME=focal
            UBUNTU_CODENAME=focal

            """, mode: 0o644)
    }

    /// sshd's host key, configuration and authorised client key (root by key only, linaro by key or password).
    private func writeSSH(clientPublicKey: String) throws {
        let key = file("ssh/ssh_host_ed25519_key")
        try CommandRunner.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "tpudeploy-sim", "-f", key.path])
        let board = "/run/tpudeploy-sim/ssh"   // the board sees its state directory there
        try write("ssh/sshd_config", """
            # sshd of a simulated BM1684X board (tpudeploy simulator); paths as the board sees them.
            Port 22
            ListenAddress 0.0.0.0
            HostKey \(board)/ssh_host_ed25519_key
            PidFile none
            UsePAM no
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication yes
            KbdInteractiveAuthentication no
            PermitEmptyPasswords no
            AuthorizedKeysFile \(board)/authorized_keys/%u
            StrictModes no
            UseDNS no
            PrintMotd no
            PrintLastLog no
            MaxStartups 64:30:128
            MaxSessions 32
            AcceptEnv LANG LC_*
            # Ubuntu sets this PATH for every user through /etc/environment (PAM); sshd has no PAM here.
            SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games
            Subsystem sftp /usr/lib/openssh/sftp-server

            """, mode: 0o644)
        for user in ["root", "linaro"] {
            try write("ssh/authorized_keys/\(user)", clientPublicKey.trimmingCharacters(in: .whitespacesAndNewlines) + "\n", mode: 0o644)
        }
    }

    /// The host key as a known_hosts line for `host`, and its `SHA256:` fingerprint.
    func hostKey(host: String, port: Int) throws -> (knownHostsLine: String, fingerprint: String) {
        let publicKey = try String(contentsOf: hostPublicKey, encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let listing = try CommandRunner.run("ssh-keygen", ["-l", "-E", "sha256", "-f", hostPublicKey.path])
        guard let fingerprint = listing.split(separator: " ").first(where: { $0.hasPrefix("SHA256:") }) else {
            throw SimulatorError.commandFailed(command: "ssh-keygen -lf \(hostPublicKey.path)", message: "no SHA256 fingerprint in: \(listing)")
        }
        let name = port == 22 ? host : "[\(host)]:\(port)"
        return ("\(name) \(publicKey)", String(fingerprint))
    }

    /// Mounts the board's `/boot` partition (a tmpfs of `mebibytes`) and puts the boot image in it.
    func mountBoot(mebibytes: Int, imageDirectory: URL) throws {
        try CommandRunner.run("mount", ["-t", "tmpfs", "-o", "size=\(mebibytes)m,mode=0755", "tpdsim-boot", bootDirectory.path])
        for name in ["emmcboot.itb", "multi.its"] {
            try CommandRunner.run("cp", [imageDirectory.appendingPathComponent(name).path, bootDirectory.appendingPathComponent(name).path])
        }
    }

    /// Mounts the board's `/data` partition: a tmpfs of `mebibytes` owned by linaro, as the board's user data.
    func mountData(mebibytes: Int) throws {
        try CommandRunner.run("mount", ["-t", "tmpfs", "-o", "size=\(mebibytes)m,mode=0755,uid=\(Self.linaroUID),gid=\(Self.linaroUID)",
                                        "tpdsim-data", file("data").path])
    }

    /// Unmounts everything mounted below the board's directory (host side), deepest first; lazily at last.
    func unmountAll() throws {
        for attempt in 0..<4 {
            let mounts = MountTable.mountPoints(under: directory.path).sorted { $0.count > $1.count }
            if mounts.isEmpty { return }
            for point in mounts { _ = try? CommandRunner.capture("umount", attempt < 3 ? [point] : ["-l", point]) }
            if attempt < 3, !MountTable.mountPoints(under: directory.path).isEmpty { Thread.sleep(forTimeInterval: 0.2) }
        }
        let left = MountTable.mountPoints(under: directory.path)
        guard left.isEmpty else {
            throw SimulatorError.commandFailed(command: "umount", message: "still mounted: \(left.joined(separator: ", "))")
        }
    }

    /// libsophon's two libraries as the board has them: the simulated runtime under both names. A board
    /// without it (the runtime was not built) still boots; engines on it fail to load the runtime, as they would.
    private func installRuntime(libsophon version: String) throws {
        guard let library = SimulatorResources.simulatedRuntimeLibrary() else { return }
        let lib = "opt-sophon/libsophon-\(version)/lib"
        try install(library, as: "\(lib)/libbmrt.so")
        try FileManager.default.createSymbolicLink(atPath: file("\(lib)/libbmlib.so").path, withDestinationPath: "libbmrt.so")
    }

    func install(_ source: URL, as path: String) throws {
        let destination = file(path)
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(at: source, to: destination)
        try setMode(destination, 0o755)
    }

    func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        let destination = file(path)
        do {
            try Data(text.utf8).write(to: destination)
        } catch {
            throw SimulatorError.stateFile(path: destination.path, problem: "cannot write: \(error)")
        }
        try setMode(destination, mode)
    }

    func setMode(_ url: URL, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    private func setOwner(_ url: URL, uid: Int, gid: Int, mode: Int) throws {
        try FileManager.default.setAttributes([.ownerAccountID: uid, .groupOwnerAccountID: gid, .posixPermissions: mode],
                                              ofItemAtPath: url.path)
    }
}

/// The host's mount table, read from `/proc/self/mounts`.
enum MountTable {
    /// Mount points at or below `path`.
    static func mountPoints(under path: String) -> [String] {
        let prefix = path.hasSuffix("/") ? String(path.dropLast()) : path
        // Read to the end: procfs reports a size of 0, and String(contentsOfFile:) then stops after its first
        // 4 KiB read, which missed the newest mounts once many boards were up (sim down then left them mounted).
        guard let file = FileHandle(forReadingAtPath: "/proc/self/mounts") else { return [] }
        defer { try? file.close() }
        let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        return table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { return nil }
            let point = unescape(String(fields[1]))
            return point == prefix || point.hasPrefix(prefix + "/") ? point : nil
        }
    }

    /// Undoes the octal escapes (`\040` for a space) of the mount table.
    static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
