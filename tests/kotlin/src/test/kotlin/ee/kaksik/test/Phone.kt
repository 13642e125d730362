// A phone as an app would build it: the generated Authenticator over a
// FileStore and a JvmDeviceKey in its own home directory.
package ee.kaksik.test

import ee.kaksik.AccountInfo
import ee.kaksik.Authenticator
import ee.kaksik.ClientConfig
import ee.kaksik.TransactionSummary
import java.nio.file.Path

class Phone(private val server: KaksikServer, home: Path) : AutoCloseable {
    val authenticator = Authenticator(ClientConfig(server.url, server.spkiPin), FileStore(home), JvmDeviceKey())

    /** The whole registration of [person]: enrolment, the operator's confirmation, both PINs verified. */
    suspend fun register(person: Person): AccountInfo {
        val enrolment = server.enrol(person)
        val started = authenticator.startRegistration(enrolment)
        server.confirm(enrolment, started.registrationCode)
        check(authenticator.waitForConfirmation(60u)) { "the operator's confirmation did not arrive" }
        authenticator.finishRegistration(PIN1, PIN2)
        return authenticator.verifyPins(PIN1, PIN2)
    }

    /** The next transaction in the inbox, long-polling for it. */
    suspend fun nextTransaction(): TransactionSummary {
        repeat(10) {
            authenticator.pendingTransactions(30u).firstOrNull()?.let { return it }
        }
        error("no transaction arrived")
    }

    override fun close() {
        authenticator.close()
    }
}
