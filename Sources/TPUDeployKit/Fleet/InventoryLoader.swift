import Dispatch
import Foundation

/// Reads an inventory file the way Ansible picks its plugin: an executable is run (`--list`, and
/// `--host NAME` per host when its output has no `_meta`), a `.yml`/`.yaml`/`.json` file is YAML,
/// anything else is INI.
public struct InventoryLoader: Sendable {
    /// Seconds an executable inventory may take for `--list`, and for each `--host` call.
    public var listTimeout: Double = 60
    public var hostTimeout: Double = 10
    /// How many `--host` calls run at once.
    public var hostCallsInFlight = 8

    public init() {}

    public func load(_ path: String) async throws -> Inventory {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InventoryError(.unreadable, file: path, "no such file; pass the inventory with --inventory FILE")
        }
        guard !isDirectory.boolValue else {
            throw InventoryError(.unreadable, file: path, "is a directory; pass one inventory file (INI, YAML or an executable)")
        }
        if FileManager.default.isExecutableFile(atPath: path) { return try await loadScript(path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InventoryError(.unreadable, file: path, "cannot read the file (permissions?)")
        }
        let text = String(decoding: data, as: UTF8.self)
        return try Self.parse(text, file: path)
    }

    /// Parses an inventory's text by its file name's ending: YAML for .yml, .yaml and .json, else INI.
    public static func parse(_ text: String, file: String) throws -> Inventory {
        let ending = (file as NSString).pathExtension.lowercased()
        if ["yml", "yaml", "json"].contains(ending) { return try YAMLInventoryParser.parse(text, file: file) }
        return try INIInventoryParser.parse(text, file: file)
    }

    private func loadScript(_ path: String) async throws -> Inventory {
        let list = try await InventoryScript.run(path, ["--list"], timeout: listTimeout)
        var (inventory, complete) = try ScriptInventoryJSON.parse(list: list, source: path)
        if complete { return inventory }
        // Without `_meta`, Ansible asks each host; bounded in time and in calls at once.
        let names = inventory.hostNames
        let outputs = try await withThrowingTaskGroup(of: (String, Data).self) { group in
            var results: [String: Data] = [:]
            var pending = names[...]
            func startNext() {
                guard let name = pending.popFirst() else { return }
                group.addTask { (name, try await InventoryScript.run(path, ["--host", name], timeout: hostTimeout)) }
            }
            for _ in 0..<max(1, hostCallsInFlight) { startNext() }
            while let (name, data) = try await group.next() {
                results[name] = data
                startNext()
            }
            return results
        }
        for name in names {
            try ScriptInventoryJSON.apply(host: outputs[name] ?? Data("{}".utf8), name: name, to: &inventory)
        }
        return inventory
    }
}

/// Runs an executable inventory off Swift's cooperative pool, with a deadline.
enum InventoryScript {
    static func run(_ path: String, _ arguments: [String], timeout: Double) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(path, arguments, timeout: timeout) })
            }
        }
    }

    private static func runBlocking(_ path: String, _ arguments: [String], timeout: Double) throws -> Data {
        let command = ([path] + arguments).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do { try process.run() } catch {
            throw InventoryError(.scriptFailed, file: path, "cannot run it: \(error)")
        }
        let readers = DispatchGroup()
        let output = CapturedBytes()
        let errors = CapturedBytes()
        for (pipe, sink) in [(stdout, output), (stderr, errors)] {
            DispatchQueue.global().async(group: readers) { sink.set(pipe.fileHandleForReading.readDataToEndOfFile()) }
        }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL) }
            throw InventoryError(.scriptFailed, file: path, "`\(command)` did not finish within \(Int(timeout)) s; it was stopped")
        }
        // A child the script left running may hold the pipes open: do not wait for it forever.
        _ = readers.wait(timeout: .now() + 5)
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.get().suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw InventoryError(.scriptFailed, file: path, "`\(command)` exited with status \(process.terminationStatus)\(message.isEmpty ? "" : ": \(message)")")
        }
        return output.get()
    }
}

/// Bytes one reader thread hands to another.
private final class CapturedBytes: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}
