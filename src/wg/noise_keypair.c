/* Keypairs: derived from a finished handshake (whitepaper section 5.4.5), then used for
 * transport data: one AEAD context per worker slot and direction, an atomic send counter, and
 * the replay window updated only after a packet proved authentic. */
#include "wg/noise.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"

static unsigned int noise_slots = 1;
static __thread unsigned int thread_slot;

int noise_begin_session(struct noise_handshake *hs, struct noise_keypair *kp, uint64_t now)
{
	uint8_t first[WG_KEY_LEN], second[WG_KEY_LEN];
	bool initiator;
	int ret = 0;

	if (hs->state == NOISE_HS_CONSUMED_RESPONSE)
		initiator = true;
	else if (hs->state == NOISE_HS_CREATED_RESPONSE)
		initiator = false;
	else
		return -EINVAL;

	memset(kp, 0, sizeof(*kp));
	/* (T_send_i = T_recv_r, T_recv_i = T_send_r) = KDF2(C, empty) */
	crypto_kdf(first, second, NULL, hs->chaining_key, NULL, 0);
	kp->n_slots = __atomic_load_n(&noise_slots, __ATOMIC_RELAXED);
	kp->send = calloc(2 * (size_t)kp->n_slots, sizeof(*kp->send));
	bool ok = kp->send != NULL;
	if (ok) {
		kp->recv = kp->send + kp->n_slots;
		for (unsigned int i = 0; i < kp->n_slots && ok; i++) {
			kp->send[i] = crypto_aead_ctx_new(initiator ? first : second);
			kp->recv[i] = crypto_aead_ctx_new(initiator ? second : first);
			ok = kp->send[i] && kp->recv[i];
		}
	}
	crypto_wipe(first, sizeof(first));
	crypto_wipe(second, sizeof(second));
	if (!ok) {
		noise_keypair_clear(kp);
		ret = -ENOMEM;
	} else {
		replay_init(&kp->replay);
		kp->birth = now;
		kp->initiator = initiator;
		kp->local_index = hs->local_index;
		kp->remote_index = hs->remote_index;
		kp->valid = true;
	}
	noise_handshake_clear(hs);
	return ret;
}

void noise_keypair_clear(struct noise_keypair *kp)
{
	if (kp->send) {
		for (unsigned int i = 0; i < 2 * kp->n_slots; i++)
			crypto_aead_ctx_free(kp->send[i]);
		free(kp->send);
	}
	crypto_wipe(kp, sizeof(*kp));
}

void noise_set_slots(unsigned int n)
{
	if (n < 1)
		n = 1;
	if (n > NOISE_MAX_SLOTS)
		n = NOISE_MAX_SLOTS;
	__atomic_store_n(&noise_slots, n, __ATOMIC_RELAXED);
}

void noise_set_thread_slot(unsigned int slot)
{
	thread_slot = slot;
}

static unsigned int my_slot(const struct noise_keypair *kp)
{
	/* the count is set before any session exists; this only keeps misuse in bounds */
	return thread_slot < kp->n_slots ? thread_slot : 0;
}

static void replay_lock(struct noise_keypair *kp)
{
	while (__atomic_exchange_n(&kp->replay_lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&kp->replay_lock, __ATOMIC_RELAXED))
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#else
			;
#endif
}

static void replay_unlock(struct noise_keypair *kp)
{
	__atomic_store_n(&kp->replay_lock, 0, __ATOMIC_RELEASE);
}

size_t noise_padded_len(size_t len, size_t mtu)
{
	size_t padded = (len + WG_PADDING_MULTIPLE - 1) & ~(size_t)(WG_PADDING_MULTIPLE - 1);

	if (mtu && padded > mtu)
		padded = len > mtu ? len : mtu;
	return padded;
}

static bool too_old(const struct noise_keypair *kp, uint64_t now, uint64_t seconds)
{
	return now < kp->birth || now - kp->birth >= seconds * WG_NSEC_PER_SEC;
}

long noise_encrypt_data(struct noise_keypair *kp, uint8_t *buf, size_t cap, size_t plain_len,
			size_t mtu, uint64_t now)
{
	struct wg_msg_data *hdr = (struct wg_msg_data *)buf;
	size_t padded = noise_padded_len(plain_len, mtu);
	uint64_t nonce;

	if (!kp->valid || too_old(kp, now, REJECT_AFTER_TIME))
		return -EKEYEXPIRED;
	if (padded > cap || cap - padded < WG_MSG_DATA_OVERHEAD || padded > (size_t)1 << 30)
		return -ENOBUFS;
	nonce = __atomic_fetch_add(&kp->send_counter, 1, __ATOMIC_RELAXED);
	if (nonce >= REJECT_AFTER_MESSAGES)
		return -EKEYEXPIRED;
	memset(hdr->encrypted + plain_len, 0, padded - plain_len);
	hdr->type = WG_MSG_DATA;
	memset(hdr->reserved, 0, sizeof(hdr->reserved));
	hdr->receiver_index = htole32(kp->remote_index);
	hdr->counter = htole64(nonce);
	if (!crypto_aead_ctx_encrypt(kp->send[my_slot(kp)], hdr->encrypted, hdr->encrypted, padded, NULL, 0, nonce))
		return -ENOMEM;
	return (long)(padded + WG_MSG_DATA_OVERHEAD);
}

long noise_decrypt_data(struct noise_keypair *kp, uint8_t *msg, size_t len, uint64_t now)
{
	struct wg_msg_data *hdr = (struct wg_msg_data *)msg;
	uint64_t counter;

	if (len < WG_MSG_DATA_MIN_LEN || len > (size_t)1 << 30 || !wg_msg_type_is(msg, WG_MSG_DATA) ||
	    le32toh(hdr->receiver_index) != kp->local_index)
		return -EINVAL;
	if (!kp->valid || too_old(kp, now, REJECT_AFTER_TIME))
		return -EKEYEXPIRED;
	counter = le64toh(hdr->counter);
	replay_lock(kp);
	bool fresh = replay_check(&kp->replay, counter);
	replay_unlock(kp);
	if (!fresh)
		return -ESTALE;
	if (!crypto_aead_ctx_decrypt(kp->recv[my_slot(kp)], hdr->encrypted, hdr->encrypted,
				     len - WG_MSG_DATA_HEADER_LEN, NULL, 0, counter))
		return -EBADMSG;
	/* checked again: another thread may have taken the same counter meanwhile */
	replay_lock(kp);
	fresh = replay_update(&kp->replay, counter);
	replay_unlock(kp);
	if (!fresh)
		return -ESTALE;
	return (long)(len - WG_MSG_DATA_OVERHEAD);
}

bool noise_keypair_wants_rekey_send(const struct noise_keypair *kp, uint64_t now)
{
	if (!kp->valid)
		return true;
	if (__atomic_load_n(&kp->send_counter, __ATOMIC_RELAXED) > REKEY_AFTER_MESSAGES)
		return true;
	return kp->initiator && too_old(kp, now, REKEY_AFTER_TIME);
}

bool noise_keypair_wants_rekey_recv(const struct noise_keypair *kp, uint64_t now)
{
	return kp->valid && kp->initiator &&
	       too_old(kp, now, REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT);
}
