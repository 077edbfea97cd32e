import Foundation
import TPUDeploySimulator

/// What the fleet benchmark must undo when Ctrl-C or SIGTERM ends it (a signal skips every `defer`): the
/// program it is running is stopped with its whole process group, then the boards of every simulator state
/// directory it started are stopped (their namespaces, mounts and bridge go with them); exit status 130.
/// The group is killed outright: its programs may have inherited the ignored SIGINT and SIGTERM.
final class BenchCleanup: @unchecked Sendable {
    static let shared = BenchCleanup()
    private let lock = NSLock()
    private var stateDirectories: [URL] = []
    private var runningGroup: pid_t?
    private var sources: [DispatchSourceSignal] = []

    /// Takes over SIGINT and SIGTERM; call once before the first board starts.
    func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in cleanUpAndExit() }
            source.resume()
            sources.append(source)
        }
    }

    func boardsStarted(in directory: URL) { lock.withLock { stateDirectories.append(directory) } }
    func boardsStopped(in directory: URL) { lock.withLock { stateDirectories.removeAll { $0 == directory } } }
    /// The process group of the program running now (GNU timeout leads its own group), nil when none runs.
    func running(group: pid_t?) { lock.withLock { runningGroup = group } }

    private func cleanUpAndExit() -> Never {
        let (group, directories) = lock.withLock { (runningGroup, stateDirectories) }
        if let group { kill(-group, SIGKILL) }
        for directory in directories {
            FileHandle.standardError.write(Data("tpudeploy-bench: interrupted; stopping the boards of \(directory.path)\n".utf8))
            try? Simulator(stateDirectory: directory).down(names: nil)
        }
        exit(130)
    }
}
