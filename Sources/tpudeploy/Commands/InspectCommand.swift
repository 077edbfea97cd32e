import ArgumentParser
import Foundation
import TPUDeployKit

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Report a board's OS, libsophon and driver versions, DDR, NPU/VPU/VPP heaps and their use, Linux memory, /data space and engine.",
        discussion: """
            Heaps are shown twice: as configured in /boot/emmcboot.itb and as the running kernel has them; a difference means a reboot is pending. Each heap's memory in use comes from the kernel's ion debugfs (root, or sudo); "device memory" is their sum, NPU + VPP + VPU, the figure bm-smi shows. libsophon, the bmtpu driver and the kernel build date are checked against what sophgo/LLM-TPU's bmodels need (0.5.1, 2024-01-10): an older SoC image gets a warning. bm-smi is never run. With --model (a profile, or a .bmodel file whose every allocation is judged as push judges it), says whether the model fits the NPU heap, loads only by spilling into the VPP/VPU heaps (the runtime allocates from all three on SoC), cannot load (with the numbers and the fix-memory command), or fits no layout of this board at all; when /boot holds a layout the board has not rebooted into, it also judges that one: fits_until_reboot (loads now, not after the next reboot) or reboot_pending (loads only after it), naming both layouts.

              tpudeploy inspect
              tpudeploy inspect --model chatglm2-6b
              tpudeploy inspect --model ./chatglm2-6b.bmodel
              tpudeploy inspect --host 192.0.2.10 --user linaro --accept-new-host-key --json
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Model to check against the heaps: a profile (Profiles/models), e.g. chatglm2-6b, or a .bmodel file, whose every allocation is judged as push judges it.")
    var model: String?

    @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
    var profiles: String?

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let store = try? ProfileStore.locate(explicit: profiles)
            var modelProfile: ModelProfile?
            var modelFile: ModelNeeds?
            if let model, model.hasSuffix(".bmodel") || model.contains("/") {
                modelFile = ModelNeeds(model: try BModel(contentsOf: model), path: model, profile: nil)
            } else if let model {
                guard let store else { throw ProfileError.directoryNotFound(searched: [profiles ?? "Profiles"]) }
                modelProfile = try store.model(named: model)
            }
            let (sshTarget, _) = try target.resolve()
            let session = try await SSHSession.connect(to: sshTarget, passwordProvider: target.passwordProvider)
            var inspector = BoardInspector(profiles: store, model: modelProfile, passwordProvider: target.passwordProvider)
            inspector.modelFile = modelFile
            let report = try await inspector.inspect(session)
            await session.close()
            if output.json {
                try printJSON(report)
            } else {
                print(BoardReportText.render(report))
            }
        }
    }
}
