/// The accounts of a simulated board, its own as a real board's are: the system users and groups of the vendor
/// image's Ubuntu 20.04, plus linaro (sudo, video, dialout). Fixed, never taken from the host: a board does not
/// gain or lose users when the host running the simulator does. sshd finds its privilege separation user
/// (`sshd`), sudo finds root and the sudo group, engines run as linaro or root.
enum BoardAccounts {
    struct User {
        var name: String
        var uid: Int
        var gid: Int
        var gecos: String
        var home: String
        var shell: String
    }

    static let linaroUID = 1000

    static let users: [User] = [
        User(name: "root", uid: 0, gid: 0, gecos: "root", home: "/root", shell: "/bin/bash"),
        User(name: "daemon", uid: 1, gid: 1, gecos: "daemon", home: "/usr/sbin", shell: "/usr/sbin/nologin"),
        User(name: "bin", uid: 2, gid: 2, gecos: "bin", home: "/bin", shell: "/usr/sbin/nologin"),
        User(name: "sys", uid: 3, gid: 3, gecos: "sys", home: "/dev", shell: "/usr/sbin/nologin"),
        User(name: "sync", uid: 4, gid: 65534, gecos: "sync", home: "/bin", shell: "/bin/sync"),
        User(name: "games", uid: 5, gid: 60, gecos: "games", home: "/usr/games", shell: "/usr/sbin/nologin"),
        User(name: "man", uid: 6, gid: 12, gecos: "man", home: "/var/cache/man", shell: "/usr/sbin/nologin"),
        User(name: "lp", uid: 7, gid: 7, gecos: "lp", home: "/var/spool/lpd", shell: "/usr/sbin/nologin"),
        User(name: "mail", uid: 8, gid: 8, gecos: "mail", home: "/var/mail", shell: "/usr/sbin/nologin"),
        User(name: "news", uid: 9, gid: 9, gecos: "news", home: "/var/spool/news", shell: "/usr/sbin/nologin"),
        User(name: "uucp", uid: 10, gid: 10, gecos: "uucp", home: "/var/spool/uucp", shell: "/usr/sbin/nologin"),
        User(name: "proxy", uid: 13, gid: 13, gecos: "proxy", home: "/bin", shell: "/usr/sbin/nologin"),
        User(name: "www-data", uid: 33, gid: 33, gecos: "www-data", home: "/var/www", shell: "/usr/sbin/nologin"),
        User(name: "backup", uid: 34, gid: 34, gecos: "backup", home: "/var/backups", shell: "/usr/sbin/nologin"),
        User(name: "list", uid: 38, gid: 38, gecos: "Mailing List Manager", home: "/var/list", shell: "/usr/sbin/nologin"),
        User(name: "irc", uid: 39, gid: 39, gecos: "ircd", home: "/var/run/ircd", shell: "/usr/sbin/nologin"),
        User(name: "gnats", uid: 41, gid: 41, gecos: "Gnats Bug-Reporting System (admin)", home: "/var/lib/gnats", shell: "/usr/sbin/nologin"),
        User(name: "nobody", uid: 65534, gid: 65534, gecos: "nobody", home: "/nonexistent", shell: "/usr/sbin/nologin"),
        User(name: "systemd-network", uid: 100, gid: 102, gecos: "systemd Network Management,,,", home: "/run/systemd", shell: "/usr/sbin/nologin"),
        User(name: "systemd-resolve", uid: 101, gid: 103, gecos: "systemd Resolver,,,", home: "/run/systemd", shell: "/usr/sbin/nologin"),
        User(name: "systemd-timesync", uid: 102, gid: 104, gecos: "systemd Time Synchronization,,,", home: "/run/systemd", shell: "/usr/sbin/nologin"),
        User(name: "messagebus", uid: 103, gid: 106, gecos: "", home: "/nonexistent", shell: "/usr/sbin/nologin"),
        User(name: "syslog", uid: 104, gid: 110, gecos: "", home: "/home/syslog", shell: "/usr/sbin/nologin"),
        User(name: "_apt", uid: 105, gid: 65534, gecos: "", home: "/nonexistent", shell: "/usr/sbin/nologin"),
        // OpenSSH's privilege separation user: sshd refuses to start without it.
        User(name: "sshd", uid: 106, gid: 65534, gecos: "", home: "/run/sshd", shell: "/usr/sbin/nologin"),
        User(name: "linaro", uid: linaroUID, gid: linaroUID, gecos: "linaro", home: "/home/linaro", shell: "/bin/bash"),
    ]

    /// (name, gid, members).
    static let groups: [(String, Int, [String])] = [
        ("root", 0, []), ("daemon", 1, []), ("bin", 2, []), ("sys", 3, []), ("adm", 4, ["syslog", "linaro"]), ("tty", 5, []),
        ("disk", 6, []), ("lp", 7, []), ("mail", 8, []), ("news", 9, []), ("uucp", 10, []), ("man", 12, []), ("proxy", 13, []),
        ("kmem", 15, []), ("dialout", 20, ["linaro"]), ("fax", 21, []), ("voice", 22, []), ("cdrom", 24, []), ("floppy", 25, []),
        ("tape", 26, []), ("sudo", 27, ["linaro"]), ("audio", 29, []), ("dip", 30, []), ("www-data", 33, []), ("backup", 34, []),
        ("operator", 37, []), ("list", 38, []), ("irc", 39, []), ("src", 40, []), ("gnats", 41, []), ("shadow", 42, []),
        ("utmp", 43, []), ("video", 44, ["linaro"]), ("sasl", 45, []), ("plugdev", 46, []), ("staff", 50, []), ("games", 60, []),
        ("users", 100, []), ("nogroup", 65534, []), ("systemd-journal", 101, []), ("systemd-network", 102, []),
        ("systemd-resolve", 103, []), ("systemd-timesync", 104, []), ("input", 105, []), ("messagebus", 106, []),
        ("kvm", 107, []), ("render", 108, []), ("crontab", 109, []), ("syslog", 110, []), ("ssh", 111, []),
        ("linaro", linaroUID, []),
    ]

    static var passwd: String {
        lines(users.map { "\($0.name):x:\($0.uid):\($0.gid):\($0.gecos):\($0.home):\($0.shell)" })
    }

    /// Only linaro has a password; root logs in by key, the system users not at all.
    static func shadow(linaroPasswordHash: String) -> String {
        lines(users.map { "\($0.name):\($0.name == "linaro" ? linaroPasswordHash : "*"):19500:0:99999:7:::" })
    }

    static var group: String {
        lines(groups.map { name, gid, members in "\(name):x:\(gid):\(members.joined(separator: ","))" })
    }

    private static func lines(_ items: [String]) -> String { items.joined(separator: "\n") + "\n" }
}
