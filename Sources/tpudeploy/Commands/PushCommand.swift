import ArgumentParser
import Foundation
import TPUDeployKit

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send the model, tokenizer and engine to the board, checked and resumable.",
        discussion: """
            Reads deployment: from tpudeploy.yaml (flags override it). Before a byte moves it checks the bmodel's chip against the board, the model's device memory (weights, neuron memory, KV cache, engine buffers) against the live heaps as the runtime allocates (NPU, then VPP, then VPU: a model that spills is pushed with a warning; one that cannot load is refused with the numbers and the exact fix-memory command; one no layout of the board holds is refused in one line; when /boot holds a layout the board has not rebooted into, the model must load on both, or the push is refused naming both layouts unless --allow-pending-reboot), the tokenizer against the model's vocabulary (every id needs a row; rows may exceed the ids by at most 1 % of padding; an empty or unreadable tokenizer is refused), the engine's ELF header against the board's architecture (uname -m), and free space. Each bmodel weight range is checked against the sha256 check_code the compiler wrote for it, in the same read that hashes the file: damaged weights are refused and nothing is installed. Files the board already holds (by its manifest: name, size, sha256) are skipped. The rest go over SFTP with many requests in flight to NAME.partial; an interrupted push resumes after the board re-checks the kept part. Each file is hashed here while it is sent and on the board while it arrives; the board's sha256 must match before a file is renamed into place. A second push into the same directory of the same board, from here or elsewhere, is refused while one runs and told who is pushing.

              tpudeploy push
              tpudeploy push --model chatglm2-6b.bmodel --tokenizer tokenizer.model --profile chatglm2-6b --remote-dir /data/tpudeploy/chatglm2
              tpudeploy push --dry-run --json
            """
    )

    @Option(name: .long, help: "Local bmodel file (default: deployment.bmodel).")
    var model: String?
    @Option(name: .long, help: "Local tokenizer file (default: deployment.tokenizer).")
    var tokenizer: String?
    @Option(name: .long, help: "Engine build to push (default: the build for the board's architecture).")
    var engine: String?
    @Flag(name: .long, help: "Push the model files only, no engine.")
    var noEngine = false
    @Option(name: .long, help: "Directory on the board (default: deployment.remote_dir, else /data/tpudeploy/NAME): absolute; ASCII letters, digits and / . _ - + only.")
    var remoteDir: String?
    @Option(name: .long, help: "Model profile from Profiles/models (default: deployment.model).")
    var profile: String?
    @Flag(name: .long, help: "Check and plan; send nothing and create nothing on the board.")
    var dryRun = false
    @Flag(name: .long, help: "Push even when /boot holds a memory layout the board has not rebooted into and the model loads on only one of the two (live, next reboot's): a warning instead of a refusal.")
    var allowPendingReboot = false
    @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
    var profiles: String?

    @OptionGroup var target: TargetOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let config = try ProjectConfig.load(from: target.config)
            let deployment = config?.deployment
            let base = ((target.config as NSString).deletingLastPathComponent as NSString)
            func local(_ path: String?) -> String? {
                guard let path else { return nil }
                return path.hasPrefix("/") ? path : (base.length == 0 ? path : base.appendingPathComponent(path))
            }
            guard let bmodel = model ?? local(deployment?.bmodel), let tokenizerPath = tokenizer ?? local(deployment?.tokenizer) else {
                throw ValidationError("name the model: --model PATH and --tokenizer PATH, or a deployment: section in \(target.config) (tpudeploy init --deployment NAME --bmodel … --tokenizer …)")
            }
            let directory: String
            if let remoteDir {
                directory = try BoardNames.validatedDirectory(remoteDir, source: "--remote-dir")
            } else if let configured = deployment?.remoteDir {
                directory = configured
            } else {
                let stem = ((bmodel as NSString).lastPathComponent as NSString).deletingPathExtension
                guard BoardNames.nameProblem(stem) == nil else {
                    throw ValidationError("the bmodel's file name '\(stem)' cannot name a directory on the board: pass --remote-dir /data/tpudeploy/NAME")
                }
                directory = DeploymentSettings.defaultRemoteDir(name: stem)
            }
            let store = try? ProfileStore.locate(explicit: profiles)
            let profileName = profile ?? deployment?.model
            let modelProfile = try profileName.map { name -> ModelProfile in
                guard let store else { throw ProfileError.directoryNotFound(searched: [profiles ?? "Profiles"]) }
                return try store.model(named: name)
            }
            let engineSource: EngineSource
            if noEngine {
                engineSource = .none
            } else if let path = engine ?? local(deployment?.engine) {
                engineSource = .file(path)
            } else {
                // The running file, not argv[0]: run from PATH, argv[0] is a bare name that would resolve in the working directory.
                let executable = URL(fileURLWithPath: ResourceLocator.runningExecutable()).resolvingSymlinksInPath()
                let payloads = (try? PayloadDirectory.locate())?.directory.path ?? "Payloads"
                engineSource = .builds(payloadsDirectory: payloads,
                                       nativeBuild: executable.deletingLastPathComponent().appendingPathComponent("tpu-llm-engine").path,
                                       hostArch: EngineSource.hostArch)
            }

            let (sshTarget, _) = try target.resolve()
            let display = PushProgressDisplay(quiet: output.json)
            var pusher = DeploymentPusher(profiles: store, passwordProvider: target.passwordProvider, events: display.handler)
            let interruption = PushInterruption(json: output.json)
            pusher.cancelled = { interruption.requested }
            pusher.hashCache = LocalHashCache.forCurrentUser
            let session = try await SSHSession.connect(to: sshTarget, passwordProvider: target.passwordProvider)
            let result: PushResult
            do {
                result = try await interruption.watching {
                    var request = PushRequest(bmodel: bmodel, tokenizer: tokenizerPath, engine: engineSource, remoteDir: directory,
                                              profile: modelProfile, dryRun: dryRun)
                    request.allowPendingReboot = allowPendingReboot
                    return try await pusher.push(request, session: session)
                }
            } catch UploadError.cancelled(let path) {
                display.finish()
                await session.close()
                let message = "push cancelled: what \(sshTarget.displayName) acknowledged is kept in \(path); run the same push again to resume it"
                if output.json { try printJSON(["cancelled": message]) }
                FileHandle.standardError.write(Data("tpudeploy: \(message)\n".utf8))
                throw ExitCode(130)
            } catch {
                display.finish()
                await session.close()
                throw error
            }
            display.finish()
            await session.close()
            if output.json {
                try printJSON(result)
            } else {
                print(PushProgressDisplay.summary(result))
            }
        }
    }
}

/// Ctrl-C during a push: the first asks the upload to stop after the requests in flight (the board keeps what
/// it acknowledged, so the next push resumes); a second one exits at once.
private final class PushInterruption: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private let json: Bool

    init(json: Bool) { self.json = json }

    /// Whether Ctrl-C was pressed; the pusher checks it between write requests.
    var requested: Bool { lock.withLock { count > 0 } }

    /// Runs `body` with Ctrl-C handled as above.
    func watching<T>(_ body: () async throws -> T) async throws -> T {
        try await handlingInterrupts({ [self] in
            let presses = lock.withLock { count += 1; return count }
            if presses > 1 {
                FileHandle.standardError.write(Data("\ntpudeploy: interrupted again: exiting now; push again to resume from what the board kept\n".utf8))
                _exit(130)
            }
            if !json {
                FileHandle.standardError.write(Data("\ntpudeploy: stopping the push (the board keeps what it has, to resume); Ctrl-C again to exit at once\n".utf8))
            }
        }, body)
    }
}
