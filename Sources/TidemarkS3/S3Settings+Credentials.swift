#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

extension S3RepositorySettings {
    /// The credentials of one s3 repository. With `environmentWins` (the repository
    /// AWS_BACKUP_BUCKET names) AWS_ACCESS_KEY_ID and its secret — AWS_SECRET_ACCESS_KEY, else
    /// the file AWS_SECRET_ACCESS_KEY_FILE names, with AWS_SESSION_TOKEN — win when set;
    /// otherwise they are used only when the section gives no `accessKeyId`. From the section:
    /// `secretAccessKeyFile`, else an inline `secretAccessKey` (only in a config file no other
    /// user can read), else the environment's secret. Errors name the setting, never the secret.
    package static func resolveCredentials(name: String, section s: S3Section, environment env: [String: String], environmentWins: Bool,
                                   configFile: String?) throws -> S3Credentials {
        let envKeyID = env["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let envSecretFile = env["AWS_SECRET_ACCESS_KEY_FILE"].flatMap { $0.isEmpty ? nil : FileIO.absolute($0) }
        let envSecret = env["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? (envSecretFile == nil ? nil : "")
        /// AWS_SECRET_ACCESS_KEY, else the file AWS_SECRET_ACCESS_KEY_FILE names.
        func environmentCredentials(_ keyID: String) throws -> S3Credentials {
            let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : S3Secret($0) }
            if let text = env["AWS_SECRET_ACCESS_KEY"], !text.isEmpty {
                return S3Credentials(accessKeyID: keyID, secretAccessKey: S3Secret(text), sessionToken: token,
                                     source: "AWS_SECRET_ACCESS_KEY")
            }
            let path = envSecretFile ?? ""
            let secret = try S3Secret(KeyFile.read(path, source: "AWS_SECRET_ACCESS_KEY_FILE").bytes)
            return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, source: "file \(path)",
                                 secretFile: path)
        }
        let fileKeyID = s.accessKeyId.flatMap { $0.isEmpty ? nil : $0 }
        let useEnvironment = environmentWins ? envKeyID != nil : fileKeyID == nil
        guard let keyID = useEnvironment ? envKeyID : fileKeyID else {
            throw TidemarkError(.configuration, "repository '\(name)' (s3) has no access key id: AWS_ACCESS_KEY_ID is not set",
                                hints: ["set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of the user running Tidemark (for archive_command: the server's environment), or s3.accessKeyId and s3.secretAccessKeyFile in the config file"])
        }
        if useEnvironment {
            guard envSecret != nil else {
                throw TidemarkError(.configuration, "repository '\(name)' (s3): AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                                    hints: ["set AWS_SECRET_ACCESS_KEY, or AWS_SECRET_ACCESS_KEY_FILE to a file (mode 0600) holding it (and AWS_SESSION_TOKEN for temporary credentials)"])
            }
            return try environmentCredentials(keyID)
        }
        if let path = s.secretAccessKeyFile, !path.isEmpty {
            let secret = try S3Secret(KeyFile.read(path, source: "s3.secretAccessKeyFile of repository '\(name)'").bytes)
            return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: nil, source: "file \(path)",
                                 secretFile: FileIO.absolute(path))
        }
        if let inline = s.secretAccessKey, !inline.isEmpty {
            // A secret in the config file is acceptable only where the key file would be.
            var st = stat()
            guard let configFile, stat(configFile, &st) == 0, st.st_mode & 0o077 == 0 else {
                let mode = configFile.map { f -> String in
                    var st = stat()
                    return stat(f, &st) == 0 ? " (mode " + String(st.st_mode & 0o777, radix: 8) + ")" : ""
                } ?? ""
                throw TidemarkError(.configuration, "repository '\(name)': s3.secretAccessKey is in '\(configFile ?? "the config file")'\(mode), which other users can read; refusing to use it",
                                    hints: ["chmod 600 '\(configFile ?? "the config file")', or move the secret to a file of its own (mode 0600) named by s3.secretAccessKeyFile"])
            }
            return S3Credentials(accessKeyID: keyID, secretAccessKey: S3Secret(inline), sessionToken: nil,
                                 source: "s3.secretAccessKey in \(configFile)")
        }
        if envSecret != nil { return try environmentCredentials(keyID) }
        throw TidemarkError(.configuration, "repository '\(name)' (s3) has an access key id but no secret: AWS_SECRET_ACCESS_KEY is not set",
                            hints: ["set s3.secretAccessKeyFile (a file of mode 0600 holding the secret) or AWS_SECRET_ACCESS_KEY"])
    }
}
