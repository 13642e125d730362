// The flows of a phone, driven from Kotlin through the generated
// bindings against a real server, with real relying parties checking
// every result.
package ee.kaksik.test

import ee.kaksik.AccountState
import ee.kaksik.InteractionType
import ee.kaksik.KaksikException
import ee.kaksik.KeyRole
import ee.kaksik.KeyState
import ee.kaksik.LocalStatus
import ee.kaksik.TransactionKind
import ee.kaksik.uniffiContinuationHandleMap
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.security.Signature
import java.security.cert.CertificateFactory
import java.security.cert.X509Certificate

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlowTest {
    private lateinit var server: KaksikServer
    private lateinit var phone: Phone
    private lateinit var registered: ee.kaksik.AccountInfo

    @BeforeAll
    fun registerMari() {
        server = KaksikServer()
        phone = Phone(server, server.tempDir("phone"))
        registered = runBlocking { phone.register(MARI) }
    }

    @AfterAll
    fun stop() {
        phone.close()
        server.close()
    }

    @Test
    fun `registration from Kotlin leaves the account ready with both keys active`() {
        assertEquals(AccountState.READY, registered.state)
        assertEquals(MARI.semanticsId, registered.identity.semanticsIdentifier)
        assertEquals(listOf(KeyState.ACTIVE, KeyState.ACTIVE), registered.keys.map { it.state })
        val status = phone.authenticator.status()
        assertTrue(status is LocalStatus.Registered, "$status")
        assertEquals(registered.documentNumber, (status as LocalStatus.Registered).documentNumber)
    }

    @Test
    fun `a QR code opened from Kotlin logs in and the relying party verifies it`(): Unit = runBlocking {
        val rp = server.rpQrLogin("Log in to DEMO bank")
        val link = rp.awaitLine("device link: ")
        val view = phone.authenticator.openDeviceLink(link)
        assertEquals(TransactionKind.AUTHENTICATION, view.kind)
        assertEquals("DEMO", view.rpName)
        val approved = phone.authenticator.approve(view.id, PIN1)
        assertEquals(null, approved.callbackUrl, "a QR login has no way back")
        val result = rp.finish()
        assertEquals(0, result.status, result.stderr)
        assertTrue(result.stdout.contains("authenticated: MARI MAASIKAS (PNOEE-38001085718)"), result.stdout)

        // A tampered link is refused with the typed exception.
        val tampered = link.replace("lang=eng", "lang=est")
        assertThrows<KaksikException.LinkInvalid> { runBlocking { phone.authenticator.openDeviceLink(tampered) } }
    }

    @Test
    fun `an authentication approved in Kotlin is verified by the relying party`() = runBlocking {
        val rp = server.rpAuth(MARI, "Log in to DEMO bank")
        val summary = phone.nextTransaction()
        assertEquals(TransactionKind.AUTHENTICATION, summary.kind)

        val view = phone.authenticator.transaction(summary.id)
        assertEquals(KeyRole.AUTH, view.role)
        assertEquals(InteractionType.DISPLAY_TEXT_AND_PIN, view.interaction)
        assertEquals("Log in to DEMO bank", view.displayText)
        assertEquals(rp.verificationCode, view.verificationCode)

        val approved = phone.authenticator.approve(summary.id, PIN1)
        assertNotNull(approved.userChallengeVerifier)

        val result = rp.finish()
        assertEquals(0, result.status, result.stderr)
        assertTrue(result.stdout.contains("authenticated: MARI MAASIKAS (PNOEE-38001085718)"), result.stdout)
    }

    @Test
    fun `a signature approved with PIN2 is the one the relying party verifies`() = runBlocking {
        val dir = server.tempDir("sign")
        val contract = dir.resolve("contract.txt")
        Files.writeString(contract, "Contract no. 42: Mari buys one (1) bicycle.\n")
        val signatureFile = dir.resolve("contract.txt.sig")
        val rp = server.rpSign(registered.documentNumber, contract, signatureFile)

        val summary = phone.nextTransaction()
        val view = phone.authenticator.transaction(summary.id)
        assertEquals(TransactionKind.SIGNATURE, view.kind)
        assertEquals(KeyRole.SIGN, view.role)
        assertEquals(rp.verificationCode, view.verificationCode)

        val approved = phone.authenticator.approve(summary.id, PIN2)
        val result = rp.finish()
        assertEquals(0, result.status, result.stderr)
        assertArrayEquals(approved.signatureDer, Files.readAllBytes(signatureFile))

        // And the JVM's own ECDSA agrees, under the signing certificate.
        val certificate =
            Files.newInputStream(dir.resolve("contract.txt.sig.cert.pem")).use {
                CertificateFactory.getInstance("X.509").generateCertificate(it) as X509Certificate
            }
        val verifier = Signature.getInstance("SHA256withECDSA")
        verifier.initVerify(certificate.publicKey)
        verifier.update(Files.readAllBytes(contract))
        assertTrue(verifier.verify(approved.signatureDer))
    }

    @Test
    fun `a wrong PIN throws WrongPin with the attempts left and the right PIN still approves`() = runBlocking {
        val rp = server.rpAuth(MARI, "Log in again")
        val summary = phone.nextTransaction()

        val wrong = assertThrows<KaksikException.WrongPin> {
            runBlocking { phone.authenticator.approve(summary.id, "9461".toByteArray()) }
        }
        assertEquals(2u, wrong.attemptsLeft)
        val auth = phone.authenticator.account().keys.single { it.role == KeyRole.AUTH }
        assertEquals(1u, auth.failedAttempts)
        assertEquals(2u, auth.attemptsLeft)

        phone.authenticator.approve(summary.id, PIN1)
        assertEquals(0, rp.finish().status)
        val after = phone.authenticator.account().keys.single { it.role == KeyRole.AUTH }
        assertEquals(0u, after.failedAttempts)
    }

    @Test
    fun `a declined authentication ends the relying party's session as refused`() = runBlocking {
        val rp = server.rpAuth(MARI, "Log in to a bank you do not know")
        val summary = phone.nextTransaction()
        phone.authenticator.decline(summary.id)

        val result = rp.finish()
        assertNotEquals(0, result.status)
        assertTrue(result.stderr.contains("USER_REFUSED_INTERACTION"), result.stderr)
        assertThrows<KaksikException.TransactionExpired> {
            runBlocking { phone.authenticator.approve(summary.id, PIN1) }
        }
        Unit
    }

    @Test
    fun `a coroutine cancelled in a long-poll leaves nothing behind and the next calls work`() = runBlocking {
        assertEquals(emptyList<Any>(), phone.authenticator.pendingTransactions(0u))

        val waiting = launch(Dispatchers.IO) { phone.authenticator.pendingTransactions(30u) }
        delay(500)
        waiting.cancelAndJoin()
        assertTrue(waiting.isCancelled)
        // Cancelling freed the Rust future, which hands back (and so
        // removes) the continuation it held.
        assertEquals(0, uniffiContinuationHandleMap.size)

        assertEquals(AccountState.READY, phone.authenticator.account().state)
        // A new long-poll on the same authenticator still gets the next
        // transaction.
        val rp = server.rpAuth(MARI, "After the cancellation")
        val summary = phone.nextTransaction()
        phone.authenticator.decline(summary.id)
        assertNotEquals(0, rp.finish().status)
    }
}
