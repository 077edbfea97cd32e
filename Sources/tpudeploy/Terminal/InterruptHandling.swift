import Foundation

/// Runs `body` with Ctrl-C (SIGINT) passed to `onInterrupt` instead of ending the program, and the default
/// handling restored afterwards: how `chat` stops only the current answer and `push` stops only the upload.
func handlingInterrupts<T>(_ onInterrupt: @escaping @Sendable () -> Void, _ body: () async throws -> T) async rethrows -> T {
    signal(SIGINT, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    source.setEventHandler(handler: onInterrupt)
    source.resume()
    defer {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
    return try await body()
}
