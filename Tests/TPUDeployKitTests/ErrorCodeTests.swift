import Foundation
import Testing
@testable import TPUDeployKit

/// One sample of every case of every error type the library throws: each must carry a stable snake_case code,
/// documented in docs/json-schemas.md, so scripts and fleet reports can match on it.
@Suite("the error contract: every library error has a stable, documented code")
struct ErrorCodeTests {
    static let range = AddressRange(start: 0x1_0000_0000, size: 0x100_0000)

    static let samples: [(Error, String)] = [
        (SSHError.cannotResolveOrConnect(target: "t", reason: "r"), "unreachable"),
        (SSHError.connectTimedOut(target: "t", seconds: 1), "connect_timeout"),
        (SSHError.hostKeyUnknown(target: "t", fingerprint: "f", knownHostsFile: "k"), "host_key_unknown"),
        (SSHError.hostKeyChanged(target: "t", fingerprint: "f", knownHostsFile: "k"), "host_key_changed"),
        (SSHError.hostKeyOfOtherType(target: "t", fingerprint: "f", knownHostsFile: "k"), "host_key_changed"),
        (SSHError.knownHostsUnusable(file: "f", reason: "r"), "ssh_setup"),
        (SSHError.identityUnreadable(file: "f", reason: "r"), "ssh_setup"),
        (SSHError.authenticationFailed(user: "u", target: "t", triedPassword: true, triedKeys: true), "auth_failed"),
        (SSHError.passwordNeeded(user: "u", target: "t"), "password_needed"),
        (SSHError.connectionLost(target: "t", reason: "r"), "connection_lost"),
        (SSHError.linkStalled(target: "t", seconds: 1), "link_stalled"),
        (SSHError.channelFailed(target: "t", operation: "o", reason: "r"), "ssh_failed"),
        (SSHError.commandTimedOut(target: "t", command: "c", seconds: 1), "command_timeout"),
        (SSHError.sftpFailed(target: "t", path: "p", reason: "r"), "ssh_failed"),
        (SSHError.libssh(operation: "o", reason: "r"), "ssh_failed"),
        (RootAccessError.passwordNeeded(user: "u", target: "t"), "sudo_password_needed"),
        (RootAccessError.sudoRefused(user: "u", target: "t", message: "m"), "sudo_refused"),
        (PortForwardError.cannotListen(port: 1, reason: "r"), "forward_cannot_listen"),
        (SSHTunnelError.refused(target: "t", host: "h", port: 1, reason: "r"), "tunnel_refused"),
        (UploadError.permissionDenied(target: "t", path: "p"), "upload_permission_denied"),
        (UploadError.noSpace(target: "t", path: "p", freeBytes: 1, neededBytes: 2), "not_enough_space"),
        (UploadError.connectionLost(target: "t", path: "p", acknowledgedBytes: 1, reason: "r"), "connection_lost"),
        (UploadError.linkStalled(target: "t", path: "p", acknowledgedBytes: 1, seconds: 1), "link_stalled"),
        (UploadError.failed(target: "t", path: "p", reason: "r"), "upload_failed"),
        (UploadError.localFile(path: "p", reason: "r"), "local_file_unreadable"),
        (UploadError.cancelled(path: "p"), "cancelled"),
        (BoardBusyError(target: "t", what: "w", holder: nil), "board_busy"),
        (PushError.localFileUnreadable(path: "p", reason: "r"), "local_file_unreadable"),
        (PushError.localFileChanged(path: "p"), "local_file_changed"),
        (PushError.duplicateName(name: "n"), "payload_duplicate_name"),
        (PushError.notEnoughSpace(target: "t", directory: "d", freeBytes: 1, neededBytes: 2), "not_enough_space"),
        (PushError.wrongChip(model: "m", modelChip: "BM1688", boardChip: "BM1684X"), "model_wrong_chip"),
        (PushError.modelCannotLoad(model: "m", reason: "r", fixCommand: "f"), "model_does_not_fit"),
        (PushError.noLayoutFits(reason: "r"), "no_layout_fits"),
        (PushError.fitsOnlyUntilReboot(model: "m", reason: "r", layouts: "l", keepLiveAdvice: "k"), "fits_only_until_reboot"),
        (PushError.loadsOnlyAfterReboot(model: "m", reason: "r", layouts: "l"), "loads_only_after_reboot"),
        (PushError.tokenizerMismatch(tokenizer: "t", model: "m", detail: "d"), "tokenizer_mismatch"),
        (PushError.engineMissing(arch: "aarch64", searched: []), "engine_missing"),
        (PushError.engineNotExecutable(path: "p", reason: "r"), "engine_not_executable"),
        (PushError.engineWrongArchitecture(path: "p", engineMachine: "e", boardArch: "b", boardMachine: "m"), "engine_wrong_architecture"),
        (PushError.tokenizerUnreadable(path: "p", reason: "r"), "tokenizer_unreadable"),
        (PushError.modelFamilyMismatch(model: "m", profile: "p", family: "f", detail: "d"), "model_family_mismatch"),
        (PushError.remoteDirectoryUnusable(target: "t", directory: "d", reason: "r"), "remote_dir_unusable"),
        (PushError.hashMismatch(target: "t", path: "p", expected: "e", actual: "a"), "hash_mismatch"),
        (PushError.interrupted(file: "f", reason: "r"), "push_interrupted"),
        (PushError.remoteCommandFailed(target: "t", what: "w", output: "o"), "board_command_failed"),
        (ELFHeader.ParseError.noMagic, "engine_not_executable"),
        (MemoryFixError.unknownDTB(target: "t"), "dtb_unknown"),
        (MemoryFixError.boardMismatch(board: "b", dtb: "d", suggestion: nil), "board_profile_mismatch"),
        (MemoryFixError.noProfileForDTB(dtb: "d", known: []), "no_board_profile"),
        (MemoryFixError.bootTooFull(freeBytes: 1, neededBytes: 2), "boot_full"),
        (MemoryFixError.dataTooFull(freeBytes: 1, neededBytes: 2), "data_full"),
        (MemoryFixError.uploadInterrupted(reason: "r"), "boot_image_upload_interrupted"),
        (MemoryFixError.uploadRefused(path: "p", reason: "r"), "boot_image_upload_refused"),
        (MemoryFixError.installFailed(reason: "r"), "boot_image_install_failed"),
        (MemoryFixError.boardDidNotReturn(target: "t", seconds: 1, bootBackup: "b", dataBackup: "d"), "board_not_back"),
        (MemoryFixError.verificationFailed(expected: "e", live: "l"), "layout_not_applied"),
        (MemoryFixError.noBackup(directory: "d"), "no_backup"),
        (MemoryFixError.installStateUnknown(reason: "r"), "install_state_unknown"),
        (MemoryFixError.liveHeapsUnknown(target: "t"), "live_heaps_unknown"),
        (MemoryFixError.rebootFailed(reason: "r", bootBackup: "b", dataBackup: "d"), "reboot_failed"),
        (MemoryFixError.bootImageDamaged(path: "p", reason: "r"), "boot_image_damaged"),
        (MemoryFixError.noIntactBackup(directory: "d", liveImageDamaged: false, skipped: []), "no_intact_backup"),
        (RebootError.noBootID(target: "t"), "reboot_unconfirmed"),
        (RebootError.didNotGoDown(target: "t", seconds: 1), "reboot_not_started"),
        (RebootError.didNotComeBack(target: "t", seconds: 1), "board_not_back"),
        (LayoutSizingError.modelDoesNotFit(model: "m", neededMiB: 1, headroomMiB: 1, maxNPUMiB: 1), "model_too_large"),
        (LayoutSizingError.noLayoutFits(reason: "r"), "no_layout_fits"),
        (LayoutRequestError.noLayout, "layout_not_named"),
        (LayoutRequestError.conflicting(given: []), "layout_flags_conflict"),
        (LayoutRequestError.incompleteSizes(missing: []), "layout_sizes_incomplete"),
        (LayoutRequestError.rollbackTakesNoLayout(given: []), "rollback_takes_no_layout"),
        (LocalBootImageError.unreadable(path: "p", reason: "r"), "boot_image_unreadable"),
        (LocalBootImageError.outputIsInput(path: "p"), "boot_image_output_is_input"),
        (LocalBootImageError.cannotWrite(path: "p", reason: "r"), "boot_image_unwritable"),
        (LocalBootImageError.dtbNotInImage(dtb: "d", image: "i", available: []), "dtb_not_in_image"),
        (LocalBootImageError.damaged(path: "p", reason: "r"), "boot_image_damaged"),
        (ServiceError.scriptFailed("r"), "service_failed"),
        (ServiceError.malformedStatus("s"), "service_status_malformed"),
        (ServiceError.notReady(reason: "r", logTail: ""), "engine_not_ready"),
        (ServiceError.failedToLoad(reason: "r", fixMemoryCommand: nil), "engine_load_failed"),
        (ServiceError.timedOut(seconds: 1, lastState: "s", logTail: ""), "engine_timeout"),
        (ServiceError.crashLoop(restarts: 1, seconds: 1, logTail: ""), "engine_crash_loop"),
        (ServiceError.launchAbandoned(reason: "r", service: "s", stopped: true, causeCode: nil), "launch_failed"),
        (ServiceError.answerRejected(problem: "p"), "bad_answer"),
        (ServiceError.noDeploymentNamed(configPath: "tpudeploy.yaml"), "no_deployment"),
        (ServiceError.notPushed(what: "bmodel", directory: "/data/tpudeploy/x"), "not_pushed"),
        (EngineAccessError.keyNeeded(deployment: "d"), "api_key_needed"),
        (EngineAccessError.keyRefused(deployment: "d", source: "s"), "api_key_refused"),
        (EngineAccessError.unusableKey(source: "s", reason: "r"), "api_key_unusable"),
        (EngineAccessError.notListening(deployment: "d", port: 1, target: "t"), "engine_not_listening"),
        (EngineAccessError.otherDeployment(deployment: "d", serving: "e", port: 1, target: "t"), "engine_of_other_deployment"),
        (EnginePortError.held(port: 1, deployment: "d", by: EnginePortHolder(kind: .listener(pid: 1, command: "c", deployment: nil))), "port_held"),
        (PayloadError.directoryNotFound(searched: []), "payloads_not_found"),
        (PayloadError.notGiven(step: "launch"), "payloads_not_found"),
        (PayloadError.unreadable(path: "p", reason: "r"), "payloads_unreadable"),
        (HTTPError.connect(host: "h", port: 1, reason: "r"), "http_connect_failed"),
        (HTTPError.io("r"), "http_io"),
        (HTTPError.timedOut(seconds: 1), "http_timeout"),
        (HTTPError.malformedResponse("r"), "http_malformed"),
        (HTTPError.status(code: 500, message: "m"), "http_status"),
        (HTTPError.cancelled, "cancelled"),
        (BoardNameError.invalidName("n", source: "s", problem: "p"), "invalid_name"),
        (BoardNameError.invalidDirectory("d", source: "s", problem: "p"), "invalid_directory"),
        (BoardNameError.invalidFileName("f", source: "s", problem: "p"), "invalid_file_name"),
        (BoardNameError.invalidUser("u", source: "s", problem: "p"), "invalid_user"),
        (BoardNames.DirectoryProblem("p"), "invalid_directory"),
        (TargetError.noTarget(configFile: "f"), "no_target"),
        (TargetError.noTargetHost(configFile: "f"), "no_target"),
        (TargetError.invalidPort(0), "invalid_port"),
        (TargetError.emptyHost(source: "s"), "invalid_host"),
        (TargetError.invalidHost("h", source: "s"), "invalid_host"),
        (TargetError.invalidUser("u", source: "s", problem: "p"), "invalid_user"),
        (ProjectConfigError.missing(path: "p"), "config_missing"),
        (TargetError.sshConfigUnreadable(path: "p"), "ssh_config_unreadable"),
        (DeploymentSettingsError.invalidValue(key: "k", flag: "f", problem: "p"), "invalid_setting"),
        (DeploymentSettingsError.missingFile(flag: "f", path: "p", resolvedPath: "r"), "missing_file"),
        (InventoryError(.badRange, "p"), "inventory_bad_range"),
        (BoardScriptError.missing(searched: []), "board_scripts_missing"),
        (YAMLFileError(file: "f", key: nil, problem: "p"), "yaml_invalid"),
        (LocalFile.Failure(path: "p", reason: "r"), "local_file_unreadable"),
        (BoardOutputError(source: "s", problem: "p", output: "o"), "board_output_malformed"),
        (ResourceNotFound(kind: .payloads, searched: []), "resource_not_found"),
        (ProfileError.directoryNotFound(searched: []), "profiles_not_found"),
        (ProfileError.unknownBoard(name: "n", known: []), "unknown_board_profile"),
        (ProfileError.unknownModel(name: "n", known: []), "unknown_model_profile"),
        (ProfileError.nameMismatch(file: "f", name: "n"), "profile_name_mismatch"),
        (ProfileError.unknownPreset(board: "b", preset: "p", known: [], file: "f"), "unknown_preset"),
        (DeviceTreeError.notADeviceTree(reason: "r"), "dtb_invalid"),
        (DeviceTreeError.truncated(declaredBytes: 2, availableBytes: 1), "dtb_truncated"),
        (DeviceTreeError.libfdt(operation: "o", code: -1, message: "m", path: nil, property: nil), "dtb_libfdt_failed"),
        (DeviceTreeError.malformedProperty(path: "p", property: "q", reason: "r"), "dtb_malformed_property"),
        (MemoryLayoutError.noMemoryNode, "memory_layout_invalid"),
        (MemoryLayoutError.deviceTree(.truncated(declaredBytes: 2, availableBytes: 1)), "dtb_truncated"),
        (MemoryPlanError.tooLarge(heap: .npu, requestedMiB: 2, maxMiB: 1), "heap_too_large"),
        (MemoryPlanError.vpuFirmwareDoesNotFit(vppMiB: 1), "vpu_firmware_does_not_fit"),
        (MemoryPlanError.overlap(region: "a", range: range, other: "b", otherRange: range), "plan_overlap"),
        (MemoryPlanError.outsideBank(region: "a", range: range), "plan_outside_bank"),
        (MemoryPlanError.notMiBAligned(region: "a", range: range), "plan_not_aligned"),
        (MemoryPlanError.linuxBelowMinimum(leftMiB: 1, minimumMiB: 2), "linux_below_minimum"),
        (MemoryPlanError.unsupportedLayout(reason: "r"), "unsupported_layout"),
        (MemoryPlanError.danglingPhandle(path: "p", phandle: 1), "dangling_phandle"),
        (MemoryPlanError.planDoesNotMatchTree(reason: "r"), "plan_does_not_match_tree"),
        (MemoryPlanError.layout(.noMemoryNode), "memory_layout_invalid"),
        (FITError.notAFlattenedDeviceTree(reason: "r"), "fit_invalid"),
        (FITError.truncated(declaredBytes: 2, availableBytes: 1), "fit_truncated"),
        (FITError.malformedTree(reason: "r"), "fit_malformed"),
        (FITError.noImages, "fit_no_images"),
        (FITError.imageNotFound(name: "n"), "fit_image_not_found"),
        (FITError.imageHasNoData(image: "i"), "fit_image_without_data"),
        (FITError.deviceTreeNotFound(fileName: "f", available: []), "dtb_not_in_image"),
        (FITError.imageIsNotADeviceTree(image: "i", reason: "r"), "fit_image_not_a_dtb"),
        (FITError.signed(signatureNodes: []), "fit_signed"),
        (FITError.externalDataOutOfBounds(image: "i", offset: 1, size: 1, fileBytes: 1), "fit_data_out_of_bounds"),
        (FITError.hashMismatch(image: "i", hashNode: "h", algorithm: "a", stored: "s", computed: "c"), "fit_hash_mismatch"),
        (FITError.unsupportedHashAlgorithm(image: "i", hashNode: "h", algorithm: "a"), "fit_unsupported_hash"),
        (FITError.malformedProperty(path: "p", property: "q", reason: "r"), "fit_malformed"),
        (FITRewriteError.notADeviceTreeImage(image: "i", type: nil), "fit_image_not_a_dtb"),
        (FITRewriteError.compressedImage(image: "i", compression: "gzip"), "fit_compressed_image"),
        (FITRewriteError.replacementIsNotADeviceTree(image: "i", reason: "r"), "fit_replacement_not_a_dtb"),
        (FITRewriteError.mixedExternalData(offsetImages: [], positionImages: []), "fit_mixed_external_data"),
        (FITRewriteError.overlappingData(image: "i", other: "o"), "fit_overlapping_data"),
        (FITRewriteError.valueTooLarge(image: "i", property: "p", value: 1), "fit_value_too_large"),
        (FITRewriteError.treeOverlapsExternalData(treeBytes: 2, firstDataPosition: 1), "fit_tree_overlaps_data"),
        (FITRewriteError.verificationFailed(reason: "r"), "fit_rewrite_unverified"),
        (ITSMismatchError.imageMissingFromFIT(image: "i"), "its_mismatch"),
        (ITSSyntaxError(fileName: "f", line: 1, reason: "r"), "its_syntax"),
        (ByteRangeError(offset: 1, count: 1, sourceCount: 0), "byte_range"),
        (BModelError.notABModel(path: "p", reason: "r"), "bmodel_invalid"),
        (BModelError.truncated(path: "p", expectedBytes: 2, actualBytes: 1), "bmodel_truncated"),
        (BModelError.malformed(path: "p", reason: "r"), "bmodel_malformed"),
        (BModelError.wrongChip(path: "p", chip: "c", expected: "e"), "model_wrong_chip"),
        (FlatBufferError(reason: "r"), "bmodel_malformed"),
    ]

    @Test func everyErrorHasItsStableSnakeCaseCode() {
        for (error, expected) in Self.samples {
            #expect(ErrorCode.of(error) == expected, "\(type(of: error)): \(error)")
            #expect(expected.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }, "\(expected)")
        }
    }

    /// A script reads the codes from the documentation: every code a sample gives is listed there.
    @Test func everyCodeIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/json-schemas.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for code in Set(Self.samples.map { ErrorCode.of($0.0) }).sorted() {
            #expect(text.contains("`\(code)`"), "docs/json-schemas.md does not list `\(code)`")
        }
    }

    @Test func aLaunchThatWasAbandonedKeepsItsCausesCode() {
        let abandoned = ServiceError.launchAbandoned(reason: "r", service: "s", stopped: true,
                                                     causeCode: ServiceError.crashLoop(restarts: 2, seconds: 1, logTail: "").errorCode)
        #expect(abandoned.errorCode == "engine_crash_loop")
    }

    @Test func retryableMeansTryingAgainUnchangedMayWork() {
        #expect(ErrorCode.isRetryable(SSHError.connectTimedOut(target: "t", seconds: 1)))
        #expect(ErrorCode.isRetryable(UploadError.linkStalled(target: "t", path: "p", acknowledgedBytes: 1, seconds: 1)))
        #expect(ErrorCode.isRetryable(PushError.interrupted(file: "f", reason: "r")))
        #expect(ErrorCode.isRetryable(BoardBusyError(target: "t", what: "w", holder: nil)))
        #expect(!ErrorCode.isRetryable(SSHError.hostKeyChanged(target: "t", fingerprint: "f", knownHostsFile: "k")))
        #expect(!ErrorCode.isRetryable(PushError.notEnoughSpace(target: "t", directory: "d", freeBytes: 1, neededBytes: 2)))
        #expect(!ErrorCode.isRetryable(ServiceError.crashLoop(restarts: 1, seconds: 1, logTail: "")))
        #expect(!ErrorCode.isRetryable(CocoaError(.fileNoSuchFile)))
    }

    @Test func errorsWithoutACodeAreNamedAsSuch() {
        #expect(ErrorCode.of(CocoaError(.fileNoSuchFile)) == ErrorCode.uncoded)
        #expect(ErrorCode.of(CancellationError()) == "cancelled")
        #expect(ErrorCode.of(CocoaError(.fileNoSuchFile), fallback: "push_failed") == "push_failed")
    }

    @Test func theFleetSortsBoardsByTheErrorsKind() {
        #expect(FleetBoardError.classify(MemoryFixError.boardDidNotReturn(target: "t", seconds: 1, bootBackup: "b", dataBackup: "d")).0 == .notBack)
        #expect(FleetBoardError.classify(SSHError.linkStalled(target: "t", seconds: 1)).0 == .unreachable)
        // A cable cut during a push's upload: unreachable (exit 3), as during any other phase.
        #expect(FleetBoardError.classify(UploadError.linkStalled(target: "t", path: "p", acknowledgedBytes: 1, seconds: 1), in: .push).0 == .unreachable)
        #expect(FleetBoardError.classify(UploadError.connectionLost(target: "t", path: "p", acknowledgedBytes: 1, reason: "r"), in: .push).0 == .unreachable)
        #expect(FleetBoardError.classify(UploadError.permissionDenied(target: "t", path: "p"), in: .push).0 == .failed)
        let (outcome, error) = FleetBoardError.classify(PushError.notEnoughSpace(target: "t", directory: "d", freeBytes: 1, neededBytes: 2), in: .push)
        #expect(outcome == .failed)
        #expect(error.code == "not_enough_space")
        #expect(FleetBoardError.classify(CocoaError(.fileNoSuchFile), in: .launch).1.code == "launch_failed")
    }

    @Test func phasesKeepTheirJSONNames() {
        #expect(FleetPhase.allCases.map(\.rawValue) == ["connect", "inspect", "distribute", "fix_memory", "reboot", "push", "launch", "verify", "done"])
    }
}
