import ArgumentParser
import Foundation
import TPUDeployKit

struct FixMemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fix-memory",
        abstract: "Rewrite the NPU/VPU/VPP memory layout of a board's boot image, safely.",
        discussion: """
            Reads /boot/emmcboot.itb, edits the dtb the board boots with the same placement rules as Sophgo's memory_edit.sh, shows the before/after layout and the exact dtb changes, then (after --yes or your confirmation) uploads the new image beside the old one, checks it by sha256, backs up the old image on /boot and under /data/tpudeploy/backups, renames the new one into place, reboots, and verifies the live heaps. A board that already has the layout is left alone. Only one run at a time may change a board's boot image (a second is refused and told who holds it). With --image, works on local files instead and writes to --output; the input is never modified.

            A damaged boot image (a FIT hash that does not match, a truncated file: U-Boot would not boot it) is never edited; `tpudeploy inspect` warns about it, and --rollback puts back the newest intact backup. --rollback otherwise undoes the last fix-memory; running it again undoes the one before, if any, and never redoes what it undid. Every backup is checked (sha256, then every FIT hash) before it is installed; a damaged one is skipped for the previous intact one. /data/tpudeploy/backups keeps the factory image (the first one replaced) and the 3 newest others, one copy per image; /boot keeps one backup, emmcboot.itb.tpudeploy-bak. A full /data never blocks --rollback: the image it replaces is then kept on /boot only.

            Answering no at the prompt exits with status 1 and changes nothing. Ctrl-C exits with status 130 and says what state the board is in: before the new image is being installed nothing has changed; while it is being installed (seconds) the first Ctrl-C only asks you to wait.

              tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b
              tpudeploy fix-memory --npu 7168 --vpu 1024 --vpp 2048 --dry-run
              tpudeploy fix-memory --preset llm --yes --json
              tpudeploy fix-memory --rollback --yes
              tpudeploy fix-memory --image emmcboot.itb --its multi.its --dtb bm1684x_evb_v0.0 --npu 7168 --vpu 0 --vpp 2048 --output out/
            """
    )

    @Option(name: .long, help: "Board profile (Profiles/boards); default: the profile that boots the board's dtb.")
    var board: String?

    @Option(name: .long, help: "NPU heap in MiB (0 removes it). Use with --vpu and --vpp.")
    var npu: UInt64?
    @Option(name: .long, help: "VPU heap in MiB (0 removes it).")
    var vpu: UInt64?
    @Option(name: .long, help: "VPP heap in MiB (0 removes it).")
    var vpp: UInt64?

    @Option(name: .long, help: "A layout named in the board profile, e.g. llm, or factory: the board's exact factory layout.")
    var preset: String?

    @Option(name: .long, help: "Size the NPU heap for a model: a profile name (Profiles/models) or a .bmodel file (what serving it allocates: weights, neuron memory, KV cache, engine buffers), plus the board's headroom. A model no layout of the board can hold is refused in one line.")
    var forModel: String?

    @Flag(name: .long, help: "Show the plan; change nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Do not ask for confirmation (required when there is no terminal).")
    var yes = false

    @Flag(name: .long, help: "Write the new image but do not reboot; it takes effect at the next boot.")
    var noReboot = false

    @Flag(name: .long, help: "Undo the last fix-memory (restore the image it replaced), or, when /boot/emmcboot.itb is damaged, put back the newest intact backup; checked before it is installed; then reboot.")
    var rollback = false

    @Option(name: .long, help: "Seconds to wait for the board to come back after the reboot.")
    var rebootTimeout = 300

    @Option(name: .long, help: "Work on this local emmcboot.itb instead of a board.")
    var image: String?
    @Option(name: .long, help: "With --image: the multi.its that belongs to it (checked, copied to --output).")
    var its: String?
    @Option(name: .long, help: "With --image: the dtb to edit, e.g. bm1684x_evb_v0.0 (default: --board's first dtb).")
    var dtb: String?
    @Option(name: .long, help: "With --image: directory for the new emmcboot.itb and multi.its.")
    var output: String?

    @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
    var profiles: String?

    @OptionGroup var target: TargetOptions
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        do {
            try LayoutRequestFlags(npu: npu, vpu: vpu, vpp: vpp, preset: preset, forModel: forModel, rollback: rollback, image: image).check()
        } catch let error as LayoutRequestError {
            throw ValidationError(error.description)
        }
        if rollback { return }
        if image == nil, its != nil || dtb != nil || output != nil {
            throw ValidationError("--its, --dtb and --output go with --image")
        }
        if image != nil, output == nil, !dryRun {
            throw ValidationError("--image needs --output DIR for the new files (or --dry-run)")
        }
    }

    func choice(_ store: ProfileStore) throws -> LayoutChoice {
        if let npu, let vpu, let vpp { return .sizes(HeapSizes(npu: .mebibytes(npu), vpu: .mebibytes(vpu), vpp: .mebibytes(vpp))) }
        if let preset { return .preset(preset) }
        let model = forModel ?? ""
        if model.hasSuffix(".bmodel") { return .modelFile(path: model, model: try BModel(contentsOf: model)) }
        return .model(try store.model(named: model))
    }

    func run() async throws {
        try await reportingFailures(json: outputOptions.json) {
            let store = try ProfileStore.locate(explicit: profiles)
            if let image {
                try runOnLocalFiles(image: image, store: store)
            } else {
                try await runOnBoard(store: store)
            }
        }
    }

    private func runOnLocalFiles(image: String, store: ProfileStore) throws {
        let local = try LocalBootImage(image: image, its: its)
        // The board profile gives presets, model headroom and the Linux minimum: the one named, else (for --preset
        // and --for-model) the one that boots --dtb. Explicit sizes without --board are planned like memory_edit.sh,
        // with no Linux minimum.
        var profile = try board.map { try store.board(named: $0) }
        if let profile, let dtb, !profile.boots(dtb: dtb) {
            let suggestion = try store.board(booting: dtb).map { "; it is --board \($0.name)'s" } ?? ""
            throw ValidationError("--dtb \(dtb) is not a dtb of board profile \(profile.name) (\(profile.dtbFileNames.joined(separator: ", ")))\(suggestion)")
        }
        if profile == nil, npu == nil, let dtb { profile = try store.board(booting: dtb) }
        guard let dtbName = dtb ?? profile.map({ local.dtb(of: $0) }) else {
            throw ValidationError("name the dtb to edit with --dtb (e.g. bm1684x_evb_v0.0) or --board PROFILE; `tpudeploy layout show --image \(image)` lists them")
        }
        let minimumLinux = profile?.minimumLinuxMiB ?? 0
        let sizing: LayoutSizing
        if let profile {
            sizing = try choice(store).sizing(for: profile)
        } else if let npu, let vpu, let vpp {
            sizing = .explicit(HeapSizes(npu: .mebibytes(npu), vpu: .mebibytes(vpu), vpp: .mebibytes(vpp)))
        } else {
            throw ValidationError("no board profile boots \(dtbName); --preset and --for-model need --board PROFILE (known: \(store.boardNames.joined(separator: ", ")))")
        }
        let result = try local.fix(dtb: dtbName, sizing: sizing, minimumLinuxMiB: minimumLinux, outputDirectory: output, dryRun: dryRun)
        if outputOptions.json {
            try printJSON(result)
            return
        }
        print(MemoryLayoutText.plan(result.plan, heading: "\(image): \(dtbName).dtb in \(result.fdtImage), \(sizing.summary)"))
        switch result.status {
        case .planned: print("\n--dry-run: nothing written")
        case .unchanged: print("\nwrote an unchanged copy to \(output ?? "")")
        case .written: print("\nwrote \(result.outputImage ?? "")" + (result.outputITS.map { " and \($0)" } ?? ""))
        }
    }

    /// Asks on the terminal; anything but yes ends the run with one line saying nothing changed, and status 1
    /// (the layout asked for was not applied, so a `&&` chain stops).
    private func confirm(_ question: String, target: String) throws {
        if yes { return }
        guard isatty(STDIN_FILENO) == 1 else {
            throw ValidationError("fix-memory changes the board's boot image and reboots it: pass --yes to confirm (or --dry-run to only see the plan)")
        }
        FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
            let message = "not confirmed: nothing was changed on \(target); it boots and runs as before"
            if outputOptions.json { try printJSON(["cancelled": message]) }
            FileHandle.standardError.write(Data("tpudeploy: \(message)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func runOnBoard(store: ProfileStore) async throws {
        let (sshTarget, configuredBoard) = try target.resolve()
        let progress = ProgressLine(quiet: outputOptions.json)
        let interruption = FixMemoryInterruption(target: sshTarget.displayName, json: outputOptions.json)
        let show = progress.handler
        var fixer = BoardMemoryFixer(profiles: store, passwordProvider: target.passwordProvider, events: { event in
            interruption.note(event)
            show(event)
        })
        fixer.rebootTimeout = rebootTimeout
        try await interruption.watching {
            try await runOnBoard(fixer: fixer, sshTarget: sshTarget, configuredBoard: configuredBoard, store: store, progress: progress)
        }
    }

    private func runOnBoard(fixer: BoardMemoryFixer, sshTarget: SSHTarget, configuredBoard: String?, store: ProfileStore, progress: ProgressLine) async throws {
        let session = try await SSHSession.connect(to: sshTarget, passwordProvider: target.passwordProvider)
        let name = sshTarget.displayName

        if rollback {
            if !dryRun {
                try confirm("Undo the last fix-memory on \(name) (or, if its boot image is damaged, put back the newest intact backup)\(noReboot ? "" : " and reboot it")?", target: name)
            }
            let (result, last) = try await fixer.rollback(session, reboot: !noReboot, dryRun: dryRun)
            await last.close()
            progress.finish()
            if outputOptions.json { try printJSON(result) } else if result.status == .planned {
                let what = result.restoredFromDamage == true
                    ? "the boot image is damaged: --rollback would put back the newest intact backup, \(result.restoredBackup ?? "-")"
                    : "--rollback would restore the boot image the last fix-memory replaced, \(result.restoredBackup ?? "-")"
                print("\(what) (heaps after its reboot: \(Self.heaps(result.liveHeapsAfter)))\n\n--dry-run: nothing changed")
            } else {
                let what = result.restoredFromDamage == true
                    ? "the boot image was damaged: put back the newest intact backup, \(result.restoredBackup ?? "-")"
                    : "restored the boot image the last fix-memory replaced, \(result.restoredBackup ?? "-")"
                if result.status == .rebootPending {
                    print("\(what); it takes effect at the next reboot (sudo reboot)")
                } else {
                    print("\(what); live heaps: \(Self.heaps(result.liveHeapsAfter))")
                }
            }
            return
        }

        let prepared = try await fixer.prepare(session, board: board ?? configuredBoard, choice: try choice(store))
        progress.finish()
        let heading = "\(sshTarget.displayName): board \(prepared.board.name), \(prepared.dtb) in \(prepared.edit.fdtImage); \(prepared.sizing.summary)"
        if !outputOptions.json { print(MemoryLayoutText.plan(prepared.edit.plan, heading: heading)) }
        if dryRun {
            await session.close()
            if outputOptions.json {
                try printJSON(MemoryFixResult(status: .planned, target: sshTarget.displayName, board: prepared.board.name, dtb: prepared.dtb, plan: prepared.edit.plan))
            } else {
                print("\n--dry-run: nothing changed")
            }
            return
        }
        if !prepared.edit.plan.isNoChange {
            try confirm("\nWrite this layout to \(name)\(noReboot ? "" : " and reboot it")?", target: name)
        } else if prepared.liveMatchesPlan == false, !noReboot {
            try confirm("\n/boot already has this layout but the board does not run it yet. Reboot \(name) to apply it?", target: name)
        }
        let (result, last) = try await fixer.apply(prepared, session: session, reboot: !noReboot)
        await last.close()
        progress.finish()
        if outputOptions.json {
            try printJSON(result)
            return
        }
        switch result.status {
        case .alreadyApplied: print("\nthe board already runs this layout: nothing to do")
        case .rebootPending:
            if let boot = result.bootBackup {
                print("\nwritten; the new layout takes effect at the next reboot (sudo reboot). Backups: \(boot), \(result.dataBackup ?? "-")")
            } else {
                print("\n/boot already has this layout; it takes effect at the next reboot (sudo reboot)" + (prepared.liveMatchesPlan == nil ? " (the live heaps could not be read to tell whether it already has)" : ""))
            }
        case .applied: print("\ndone: live heaps \(Self.heaps(result.liveHeapsAfter)). Backups: \(result.bootBackup ?? "-"), \(result.dataBackup ?? "-"); undo with `tpudeploy fix-memory --rollback`")
        case .planned, .rolledBack: break
        }
    }

    static func heaps(_ sizes: [String: UInt64]?) -> String {
        sizes.map(MemoryLayoutText.heaps) ?? "unknown"
    }
}
