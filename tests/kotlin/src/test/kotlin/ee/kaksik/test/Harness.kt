// The real system around the bindings: a `kaksik serve` on a temporary
// data directory, the operator's `kaksik admin` commands, and relying
// parties as `kaksik rp … auth|sign` processes, which verify the
// signature, the certificate chain and the person before they exit 0.
package ee.kaksik.test

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/** The `kaksik` binary the build made (surefire passes its path). */
val kaksikBin: String =
    System.getProperty("kaksik.bin") ?: error("the system property kaksik.bin is not set")

/** How long a line from a child process may take before the harness gives up (a hang guard). */
private const val LINE_WAIT_SECONDS = 120L

/** PIN1 and PIN2 the test phone chooses (valid, not weak). */
val PIN1: ByteArray get() = "2580".toByteArray()
val PIN2: ByteArray get() = "14703".toByteArray()

/** The person the tests enrol. */
data class Person(val country: String, val id: String, val givenName: String, val surname: String) {
    val semanticsId get() = "PNO$country-$id"
}

val MARI = Person("EE", "38001085718", "MARI", "MAASIKAS")

/** A child process whose stdout lines are collected as they come. */
class Child(command: List<String>, logFile: File) {
    val process: Process =
        ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(logFile)).start()
    private val lines = LinkedBlockingQueue<String>()
    private val all = StringBuffer()
    private val reader =
        thread(isDaemon = true, name = "stdout of ${command.take(2)}") {
            process.inputStream.bufferedReader().forEachLine {
                all.append(it).append('\n')
                lines.put(it)
            }
            lines.put(EOF)
        }
    private val log = logFile

    /** The rest of the first line (from now on) that starts with [prefix]. */
    fun awaitLine(prefix: String): String {
        while (true) {
            val line =
                lines.poll(LINE_WAIT_SECONDS, TimeUnit.SECONDS)
                    ?: error("no line '$prefix' within $LINE_WAIT_SECONDS s; log:\n${log.readText()}")
            if (line === EOF) error("exited without a line '$prefix'; log:\n${log.readText()}")
            if (line.startsWith(prefix)) return line.removePrefix(prefix)
        }
    }

    /** Waits for the exit: its status, everything it printed, its stderr. */
    fun finish(): Finished {
        check(process.waitFor(LINE_WAIT_SECONDS * 5, TimeUnit.SECONDS)) { "still running" }
        reader.join()
        return Finished(process.exitValue(), all.toString(), log.readText())
    }

    data class Finished(val status: Int, val stdout: String, val stderr: String)

    private companion object {
        val EOF = String(charArrayOf('\u0000'))
    }
}

/** A running `kaksik serve` on a fresh data directory, stopped and deleted on close. */
class KaksikServer : AutoCloseable {
    private val work: Path = Files.createTempDirectory("kaksik-kotlin-")
    val dataDir: Path = work.resolve("server")
    private val server =
        Child(
            listOf(kaksikBin, "serve", "--data-dir", "$dataDir", "--listen", "127.0.0.1:0"),
            work.resolve("serve.log").toFile(),
        )
    val url: String = server.awaitLine("kaksik server listening on ")
    val spkiPin: String = server.awaitLine("spki-pin ")

    /** A fresh directory for a test's files. */
    fun tempDir(name: String): Path = Files.createTempDirectory(work, name)

    /** `kaksik admin --data-dir … ARGS`: its stdout; fails on a non-zero exit. */
    fun admin(vararg args: String): String {
        val done = Child(listOf(kaksikBin, "admin", "--data-dir", "$dataDir") + args, log("admin")).finish()
        check(done.status == 0) { "kaksik admin ${args.first()} failed: ${done.stderr}" }
        return done.stdout
    }

    /** The operator enrols [person]: the one-time enrolment code. */
    fun enrol(person: Person): String =
        admin(
            "enrol", "--country", person.country, "--id", person.id,
            "--given-name", person.givenName, "--surname", person.surname,
        ).lines().first()

    /** The operator confirms the registration code the person reads out. */
    fun confirm(enrolment: String, registrationCode: String) {
        admin("confirm", "--enrolment", enrolment, "--registration-code", registrationCode)
    }

    /** A relying party starts an authentication of [person]; it waits for the phone. */
    fun rpAuth(person: Person, text: String): RelyingParty =
        RelyingParty(rp("auth", "--id", person.semanticsId, "--text", text))

    /** A relying party asks for [document]'s signature of [file], written to [out]. */
    fun rpSign(document: String, file: Path, out: Path): RelyingParty =
        RelyingParty(rp("sign", "--document", document, "--file", "$file", "--out", "$out"))

    /**
     * A relying party starts a QR-code login (anonymous: whoever scans it);
     * on a pipe `kaksik rp auth --qr` prints the code's content each second.
     */
    fun rpQrLogin(text: String): Child = rp("auth", "--qr", "--text", text)

    private fun rp(vararg args: String) =
        Child(listOf(kaksikBin, "rp", "--server", url, "--spki-pin", spkiPin) + args, log("rp"))

    private fun log(name: String): File = Files.createTempFile(work, name, ".log").toFile()

    override fun close() {
        server.process.destroy()
        server.process.waitFor(30, TimeUnit.SECONDS)
        work.toFile().deleteRecursively()
    }
}

/** A `kaksik rp` session in progress. */
class RelyingParty(private val child: Child) {
    /** The code the RP shows; the phone must show the same. */
    val verificationCode: String = child.awaitLine("verification code: ")

    fun finish(): Child.Finished = child.finish()
}
