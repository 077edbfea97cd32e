/// The shell scripts a push runs on the board (POSIX sh and coreutils), and the parsers of what they print.
public struct PushScripts: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public var manifestPath: String { directory + "/" + BoardManifest.fileName }
    public func finalPath(_ name: String) -> String { directory + "/" + name }
    /// The temporary name a file is uploaded to; nothing is ever written under the final name directly.
    public func partialPath(_ name: String) -> String { directory + "/" + name + ".partial" }

    /// Reports the architecture, free space, the manifest, and the sizes of the final and temporary files of
    /// `names`, creating nothing: a dry run or a refused push leaves the board as it was.
    public func probe(names: [String]) throws -> BoardScriptCall {
        BoardScriptCall(script: try .named("push-probe.sh"), arguments: [directory, BoardManifest.fileName] + names)
    }

    /// Creates the directory, once the push has passed its checks; prints `@@ok` or `@@error REASON`.
    public func makeDirectory() throws -> BoardScriptCall {
        BoardScriptCall(script: try .named("push-make-directory.sh"), arguments: [directory])
    }

    /// What `probe` found.
    public struct ProbeResult: Sendable, Equatable {
        public var arch: String
        public var space: FilesystemSpace
        public var manifest: BoardManifest
        /// name → (size of the final file, size of its `.partial`), nil where absent.
        public var sizes: [String: (final: UInt64?, partial: UInt64?)]
        /// The names whose final file was written after the manifest: changed on the board since a push checked it.
        public var changedSinceManifest: Set<String> = []
        /// When the login is root: the first of the directory and its parent that another user owns or may write
        /// in, as (path, owner). Root writing there could be sent through that user's links (`rootWritable`).
        public var notRootsAlone: (path: String, owner: String)?

        /// Throws when root would write into a directory another user controls.
        public func requireSafeForRoot(target: String, directory: String) throws {
            if let (path, owner) = notRootsAlone {
                throw PushError.directoryNotRootsAlone(target: target, directory: directory, path: path, owner: owner)
            }
        }

        /// Whether a push may skip `entry`: the manifest records it and the board's file is still that file.
        public func holds(_ entry: PayloadEntry) -> Bool {
            manifest.holds(entry, sizeOnBoard: sizes[entry.name]?.final ?? nil, changedSinceRecorded: changedSinceManifest.contains(entry.name))
        }

        public static func == (a: ProbeResult, b: ProbeResult) -> Bool {
            a.arch == b.arch && a.space == b.space && a.manifest == b.manifest && a.changedSinceManifest == b.changedSinceManifest
                && a.sizes.keys.sorted() == b.sizes.keys.sorted()
                && a.sizes.allSatisfy { b.sizes[$0.key]?.final == $0.value.final && b.sizes[$0.key]?.partial == $0.value.partial }
        }
    }

    /// Parses the probe's output; throws `remoteDirectoryUnusable` when the directory could not be made.
    public func parseProbe(_ text: String, target: String) throws -> ProbeResult {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let error = lines.first(where: { $0.hasPrefix("@@error ") }) {
            throw PushError.remoteDirectoryUnusable(target: target, directory: directory, reason: String(error.dropFirst(8)))
        }
        guard let arch = lines.first(where: { $0.hasPrefix("@@arch ") }).map({ String($0.dropFirst(7)) }),
              let dfStart = lines.firstIndex(of: "@@df"), let dfEnd = lines.firstIndex(of: "@@end"), dfStart < dfEnd
        else { throw PushError.remoteCommandFailed(target: target, what: "probing \(directory)", output: text) }
        let space = try FilesystemSpace(dfPortable: lines[(dfStart + 1)..<dfEnd].joined(separator: "\n"), path: directory)
        let manifestText = lines.first(where: { $0.hasPrefix("@@manifest ") || $0 == "@@manifest" }).map { String($0.dropFirst(10)) } ?? ""
        let manifestWritten = lines.first(where: { $0.hasPrefix("@@manifest_mtime ") }).flatMap { Int($0.dropFirst(17)) }
        let root = lines.first(where: { $0.hasPrefix("@@uid ") }) == "@@uid 0"
        var notRootsAlone: (path: String, owner: String)?
        for line in lines where root && notRootsAlone == nil && line.hasPrefix("@@owner ") {
            let fields = line.dropFirst(8).split(separator: " ", maxSplits: 3).map(String.init)
            guard fields.count == 4, let uid = Int(fields[0]), let mode = Int(fields[1], radix: 8) else { continue }
            // Above the deployment directory, a sticky directory (a tmpfs's 1777) lets nobody else rename or
            // remove root's entries in it; the deployment directory itself must be writable by root alone.
            let othersMayWrite = mode & 0o022 != 0 && (fields[3] == directory || mode & 0o1000 == 0)
            if uid != 0 || othersMayWrite { notRootsAlone = (fields[3], uid != 0 ? fields[2] : "users other than root") }
        }
        var sizes: [String: (final: UInt64?, partial: UInt64?)] = [:]
        var changed: Set<String> = []
        for line in lines where line.hasPrefix("@@file ") {
            let fields = line.dropFirst(7).split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4 else { continue }
            let name = String(fields[3])
            sizes[name] = (UInt64(fields[0]), UInt64(fields[1]))
            if let written = Int(fields[2]), written > (manifestWritten ?? Int.max) { changed.insert(name) }
        }
        var result = ProbeResult(arch: arch, space: space, manifest: BoardManifest(text: manifestText), sizes: sizes)
        result.changedSinceManifest = changed
        result.notRootsAlone = notRootsAlone
        return result
    }

    /// A shell function `sha256_of` hashing standard input to 64 hex digits. OpenSSL when the board has it: it
    /// uses the CPU's SHA instructions, ~4x coreutils' sha256sum on the simulated boards (0.8 s vs 3.1 s a GiB).
    public static let hashFunction = """
        sha256_of() { if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r | cut -c1-64; else sha256sum | cut -c1-64; fi; }
        """

    /// Prints the SHA-256 of the first `bytes` bytes of `name`'s temporary file.
    public func prefixHash(name: String, bytes: UInt64) -> String {
        "\(Self.hashFunction)\nhead -c \(bytes) \(shellQuoted(partialPath(name))) | sha256_of"
    }

    /// What identifies the temporary file's state: size, inode and change time (`stat`'s nanoseconds).
    /// A write by anyone changes it, so a hash taken while it was unchanged still describes the file.
    static let identityFormat = "%s/%i/%z"

    /// Runs on the board beside an upload: hashes `name`'s temporary file from its first byte as it grows,
    /// reading what the SFTP server has written, until it holds `size` bytes. Prints `@@identity` (the file's
    /// identity once every byte was written) and `@@hash`. Gives up (no `@@identity`) when the file shrinks,
    /// grows past `size`, or does not grow for 20 s; the check after the upload then reads the file back.
    public func hashWhileReceiving(name: String, size: UInt64) -> String {
        """
        \(Self.hashFunction)
        p=\(shellQuoted(partialPath(name))); size=\(size)
        exec 3>&1
        {
          pos=0; idle=0; final=
          while [ "$pos" -lt "$size" ]; do
            now=$(stat -c '\(Self.identityFormat)' "$p" 2>/dev/null) || exit 1
            have=${now%%/*}
            { [ "$have" -le "$size" ] && [ "$have" -ge "$pos" ]; } || exit 1
            [ "$have" -lt "$size" ] || [ -n "$final" ] || final=$now
            if [ "$have" -gt "$pos" ]; then
              dd if="$p" bs=1M iflag=skip_bytes,count_bytes skip="$pos" count=$((have - pos)) 2>/dev/null || exit 1
              pos=$have; idle=0
            else
              idle=$((idle + 1)); [ "$idle" -lt 400 ] || exit 1
              sleep 0.05
            fi
          done
          echo "@@identity $final" >&3
        } | sha256_of | sed 's/^/@@hash /'
        """
    }

    /// The board's hash of a file taken while it arrived, and the file's identity when it was complete.
    public struct HashWhileReceiving: Sendable, Equatable {
        public var sha256: String
        public var identity: String

        /// Reads `hashWhileReceiving`'s output; nil unless it finished (identity and a 64-digit hash).
        public init?(output: String) {
            var hash: String?, identity: String?
            for line in output.split(separator: "\n").map(String.init) {
                if line.hasPrefix("@@hash ") { hash = String(line.dropFirst(7)) }
                if line.hasPrefix("@@identity ") { identity = String(line.dropFirst(11)) }
            }
            guard let hash, hash.count == 64, hash.allSatisfy(\.isHexDigit), let identity, !identity.isEmpty else { return nil }
            self.sha256 = hash
            self.identity = identity
        }
    }

    /// How the board's hash of a file was taken.
    public enum BoardHashMethod: String, Sendable, Codable {
        /// While the file arrived (`hashWhileReceiving`), unchanged since.
        case whileReceiving = "while_receiving"
        /// By reading the whole file back after the upload.
        case readBack = "read_back"
    }

    /// Checks the temporary file against `sha256`; when it matches, flushes it, sets its mode and renames it
    /// into place (`@@ok <method>`), else prints `@@mismatch <hash>` and leaves everything as it was.
    ///
    /// `received`, the hash taken while the file arrived, is used only when it equals `sha256` and the file's
    /// identity has not changed since; otherwise (and for any mismatch) the file is read back and hashed, so a
    /// byte changed after it was hashed is still caught.
    public func verifyAndInstall(name: String, sha256: String, mode: UInt32, received: HashWhileReceiving? = nil) -> String {
        // The paths are shell variables: a quoted word pasted inside the double quotes of a message would be
        // expanded there (a file named `$(…)` would run).
        var lines = [Self.hashFunction, "p=\(shellQuoted(partialPath(name))); f=\(shellQuoted(finalPath(name)))",
                     "got=", "how=\(BoardHashMethod.readBack.rawValue)"]
        if let received, received.sha256 == sha256 {
            lines.append("""
                if [ "$(stat -c '\(Self.identityFormat)' "$p" 2>/dev/null)" = \(shellQuoted(received.identity)) ]; then got=\(shellQuoted(received.sha256)); how=\(BoardHashMethod.whileReceiving.rawValue); fi
                """)
        }
        lines.append("""
            if [ -z "$got" ]; then got=$(sha256_of < "$p") || exit 3; fi
            [ ${#got} -eq 64 ] || exit 3
            if [ "$got" = \(shellQuoted(sha256)) ]; then
              sync "$p" 2>/dev/null || sync
              if chmod \(String(mode, radix: 8)) "$p" && mv -f -T "$p" "$f"; then
                sync \(shellQuoted(directory)) 2>/dev/null; echo "@@ok $how"
              else
                echo "@@error cannot put $p in place as $f"
              fi
            else
              echo "@@mismatch $got"
            fi
            """)
        return lines.joined(separator: "\n")
    }

    /// Replaces the manifest atomically with standard input.
    public var writeManifest: String {
        let m = shellQuoted(manifestPath), t = shellQuoted(manifestPath + ".tmp")
        return "cat > \(t) && mv -f \(t) \(m) && echo @@ok"
    }

    public func removePartial(_ name: String) -> String { "rm -f \(shellQuoted(partialPath(name)))" }

    public var freeSpace: String { "df -Pk \(shellQuoted(directory))" }
}
