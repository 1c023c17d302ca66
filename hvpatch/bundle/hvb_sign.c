/*
 * hvb_sign.c: Ed25519 keys, signing and verification of bundles (OpenSSL
 * EVP), and reading bundle files.
 */
#include "config.h"

#include "hvb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "hv_hex.h"

#define HVB_MAX_KEY_FILE_BYTES 65536

static const char *ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	static __thread char buf[256];

	if (!e)
		return "no OpenSSL reason given";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Read all of the regular file open at @fd (named @path in errors); the
 * caller keeps @fd. */
static int read_fd(int fd, const char *path, size_t max_bytes, uint8_t **out, size_t *len)
{
	uint8_t *p = NULL;
	struct stat st;
	size_t got = 0;
	int r = 0;

	*out = NULL;
	*len = 0;
	if (!max_bytes)
		max_bytes = HVB_MAX_BUNDLE_BYTES;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = hv_err(HV_E_IO, "%s is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		r = hv_err(HV_E_RANGE, "%s is %lld bytes; at most %zu are accepted", path,
			   (long long)st.st_size, max_bytes);
		goto out;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p) {
		r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = hv_err(HV_E_IO, "cannot read %s: %s", path,
				   n < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (size_t)n;
	}
	*out = p;
	*len = got;
	p = NULL;
out:
	free(p);
	return r;
}

int hvb_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len)
{
	int fd, r;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hv_err(HV_E_IO, "cannot open %s: %s", path, strerror(errno));
	r = read_fd(fd, path, max_bytes, out, len);
	close(fd);
	return r;
}

int hvb_sha256(const uint8_t *buf, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return hv_err(HV_E_INTERNAL, "SHA-256 of %zu bytes failed: %s", len, ossl_reason());
	return 0;
}

/* Key id = SHA-256 of the raw 32-byte Ed25519 public key. */
static int key_id_of(EVP_PKEY *k, const char *what, uint8_t key_id[HVB_KEY_ID_BYTES])
{
	uint8_t raw[32];
	size_t n = sizeof(raw);
	unsigned int dn = 0;

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
		return hv_err(HV_E_INVAL,
			      "%s is not an Ed25519 key; create keys with hvpatch keygen", what);
	if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != sizeof(raw))
		return hv_err(HV_E_INTERNAL, "cannot get the public key of %s: %s", what,
			      ossl_reason());
	if (EVP_Digest(raw, n, key_id, &dn, EVP_sha256(), NULL) != 1 || dn != HVB_KEY_ID_BYTES)
		return hv_err(HV_E_INTERNAL, "SHA-256 of the key %s failed: %s", what,
			      ossl_reason());
	return 0;
}

/* Which keys load_key() accepts. */
enum key_want {
	KEY_PRIVATE,	    /* a private key (for signing) */
	KEY_ANY,	    /* a public key, or the public half of a private one */
	KEY_TRUSTED_PUBLIC, /* a public key only: a trusted-key directory */
};

/* Parse the PEM key in @text (@len bytes, read from @path); *@out caller
 * frees. */
static int parse_key(const uint8_t *text, size_t len, const char *path, enum key_want want,
		     EVP_PKEY **out)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	int r = 0;

	*out = NULL;
	bio = BIO_new_mem_buf(text, (int)len);
	if (!bio) {
		r = hv_err(HV_E_NOMEM, "out of memory reading key %s", path);
		goto out;
	}
	if (want == KEY_PRIVATE) {
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	} else {
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		if (!k) {
			ERR_clear_error();
			(void)BIO_reset(bio);
			k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
			/* A private key among the trusted ones is a key that leaked
			 * to every reader of the directory, or one put there by
			 * mistake: either way, not a statement of trust. */
			if (k && want == KEY_TRUSTED_PUBLIC) {
				r = hv_err(HV_E_INVAL,
					   "%s is a private key; a trusted-key directory holds "
					   "public keys only (hvpatch keygen writes NAME.pub.pem "
					   "for it): remove it, and treat the key as exposed",
					   path);
				goto out;
			}
		}
	}
	if (!k) {
		r = hv_err(HV_E_INVAL,
			   "%s is not a PEM %s key (%s); create keys with hvpatch keygen", path,
			   want == KEY_PRIVATE ? "private" : "public", ossl_reason());
		goto out;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		r = hv_err(HV_E_INVAL, "%s is not an Ed25519 key; create keys with hvpatch keygen",
			   path);
		goto out;
	}
	*out = k;
	k = NULL;
out:
	EVP_PKEY_free(k);
	BIO_free(bio);
	return r;
}

/* Load a PEM key from @path; *@out caller frees. */
static int load_key(const char *path, enum key_want want, EVP_PKEY **out)
{
	uint8_t *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	r = hvb_read_file(path, HVB_MAX_KEY_FILE_BYTES, &text, &len);
	if (r == 0)
		r = parse_key(text, len, path, want, out);
	free(text);
	return r;
}

/*
 * Whether what @fd holds (the trusted-key directory or one of its keys,
 * named @path) can be trusted: owned by root or by the user running
 * hvpatch, and writable by no one else.  Whoever can write there decides
 * what hvpatch writes into guest kernels.
 */
static int check_trusted_owner(int fd, const char *path, bool dir)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return hv_err(HV_E_IO, "cannot stat %s: %s", path, strerror(errno));
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return hv_err(HV_E_INVAL, "%s is not a %s", path,
			      dir ? "directory" : "regular file");
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return hv_err(HV_E_INVAL,
			      "%s belongs to uid %u, neither root nor the user running hvpatch "
			      "(uid %u): trusted keys must be under their control alone (chown "
			      "it)",
			      path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return hv_err(HV_E_INVAL,
			      "%s is writable by %s (mode %04o): anyone who can write there "
			      "decides what is trusted; chmod go-w it",
			      path, (st.st_mode & S_IWOTH) ? "every user" : "its group",
			      (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Load the trusted public key @name from the directory open at @dfd
 * (named @dir); *@out caller frees. */
static int load_trusted_key(int dfd, const char *dir, const char *name, EVP_PKEY **out)
{
	char path[4096];
	uint8_t *text = NULL;
	size_t len = 0;
	int fd = -1, r;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = hv_err(HV_E_INVAL, "cannot open the trusted key %s: %s%s", path,
			   strerror(errno),
			   errno == ELOOP ? " (a symbolic link: copy the key itself there)" : "");
		goto out;
	}
	r = check_trusted_owner(fd, path, false);
	if (r == 0)
		r = read_fd(fd, path, HVB_MAX_KEY_FILE_BYTES, &text, &len);
	if (r == 0)
		r = parse_key(text, len, path, KEY_TRUSTED_PUBLIC, out);
out:
	free(text);
	if (fd >= 0)
		close(fd);
	return r;
}

int hvb_key_id_of_file(const char *path, uint8_t key_id[HVB_KEY_ID_BYTES])
{
	EVP_PKEY *k = NULL;
	int r = load_key(path, KEY_ANY, &k);

	if (r == 0)
		r = key_id_of(k, path, key_id);
	EVP_PKEY_free(k);
	return r;
}

static int write_pem(const char *path, EVP_PKEY *k, bool private_key)
{
	FILE *f = NULL;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, private_key ? 0600 : 0644);
	if (fd < 0) {
		r = hv_err(errno == EEXIST ? HV_E_STATE : HV_E_IO, "cannot create %s: %s%s", path,
			   strerror(errno),
			   errno == EEXIST ? " (hvpatch keygen never overwrites a key; choose "
					     "another name)"
					   : "");
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		r = hv_err(HV_E_IO, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if ((private_key ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_PUBKEY(f, k)) != 1) {
		r = hv_err(HV_E_IO, "cannot write the key to %s: %s", path, ossl_reason());
		goto out;
	}
out:
	if (f && fclose(f) != 0 && r == 0)
		r = hv_err(HV_E_IO, "cannot write %s: %s", path, strerror(errno));
	return r;
}

int hvb_keygen(const char *base, uint8_t key_id[HVB_KEY_ID_BYTES])
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	char priv[4096], pub[4096];
	int r = 0;

	if (!base || !*base || snprintf(priv, sizeof(priv), "%s.key", base) >= (int)sizeof(priv) ||
	    snprintf(pub, sizeof(pub), "%s.pub.pem", base) >= (int)sizeof(pub)) {
		r = hv_err(HV_E_INVAL, "key name '%.100s' is empty or too long", base ? base : "");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1) {
		r = hv_err(HV_E_INTERNAL, "Ed25519 key generation failed: %s", ossl_reason());
		goto out;
	}
	if (access(priv, F_OK) == 0 || access(pub, F_OK) == 0) {
		r = hv_err(HV_E_STATE,
			   "%s or %s already exists; hvpatch keygen never overwrites a key, "
			   "choose another name",
			   priv, pub);
		goto out;
	}
	r = write_pem(priv, k, true);
	if (r < 0)
		goto out;
	r = write_pem(pub, k, false);
	if (r < 0) {
		unlink(priv);
		goto out;
	}
	if (key_id)
		r = key_id_of(k, pub, key_id);
out:
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Length of @buf without its signature record (parses it strictly). */
static int unsigned_length(const uint8_t *buf, size_t len, size_t *out, struct hvb_signature *sig)
{
	struct hvb_bundle *b = NULL;
	int r = hvb_parse(buf, len, &b);

	if (r < 0)
		return r;
	*out = b->sig.present ? b->sig.signed_bytes : len;
	if (sig)
		*sig = b->sig;
	hvb_free(b);
	return 0;
}

int hvb_sign(const uint8_t *in, size_t len, const char *key_path, uint8_t **out, size_t *out_len)
{
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t *p = NULL, key_id[HVB_KEY_ID_BYTES], sig[HVB_SIG_BYTES];
	size_t body = 0, siglen = sizeof(sig), at;
	const size_t rec_bytes = 8 + 1 + HVB_KEY_ID_BYTES + 2 + HVB_SIG_BYTES;
	int r;

	*out = NULL;
	*out_len = 0;
	r = unsigned_length(in, len, &body, NULL);
	if (r < 0)
		goto out;
	r = load_key(key_path, KEY_PRIVATE, &k);
	if (r < 0)
		goto out;
	r = key_id_of(k, key_path, key_id);
	if (r < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, in, body) != 1 || siglen != HVB_SIG_BYTES) {
		r = hv_err(HV_E_INTERNAL, "Ed25519 signing with %s failed: %s", key_path,
			   ossl_reason());
		goto out;
	}
	p = malloc(body + rec_bytes);
	if (!p) {
		r = hv_err(HV_E_NOMEM, "out of memory signing a bundle");
		goto out;
	}
	memcpy(p, in, body);
	at = body;
	p[at++] = HVB_REC_SIGNATURE;
	p[at++] = 0;
	p[at++] = 0;
	p[at++] = 0;
	p[at++] = (uint8_t)(rec_bytes - 8);
	p[at++] = 0;
	p[at++] = 0;
	p[at++] = 0;
	p[at++] = 1; /* Ed25519 */
	memcpy(p + at, key_id, HVB_KEY_ID_BYTES);
	at += HVB_KEY_ID_BYTES;
	p[at++] = HVB_SIG_BYTES;
	p[at++] = 0;
	memcpy(p + at, sig, HVB_SIG_BYTES);
	*out = p;
	*out_len = body + rec_bytes;
	p = NULL;
out:
	free(p);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int hvb_verify(const uint8_t *buf, size_t len, const char *trusted_dir,
	       struct hvb_verify_info *info)
{
	struct hvb_signature sig;
	char hex[2 * HVB_KEY_ID_BYTES + 1], path[4096], found_path[4096] = "";
	EVP_PKEY *found = NULL;
	EVP_MD_CTX *md = NULL;
	DIR *d = NULL;
	struct dirent *de;
	size_t body = 0;
	unsigned nkeys = 0;
	int r, dfd = -1;

	r = unsigned_length(buf, len, &body, &sig);
	if (r < 0)
		goto out;
	if (!sig.present) {
		r = hv_err(HV_E_VERIFY,
			   "bundle is not signed; sign it with 'hvpatch sign BUNDLE --key KEY'");
		goto out;
	}
	hv_hex_encode(hex, sizeof(hex), sig.key_id, HVB_KEY_ID_BYTES);
	dfd = open(trusted_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		struct stat lst;
		int e = errno;
		bool link = lstat(trusted_dir, &lst) == 0 && S_ISLNK(lst.st_mode);

		r = hv_err(HV_E_IO, "cannot open the trusted-key directory %s: %s", trusted_dir,
			   link ? "it is a symbolic link (name the directory itself)"
				: strerror(e));
		goto out;
	}
	r = check_trusted_owner(dfd, trusted_dir, true);
	if (r < 0)
		goto out;
	d = fdopendir(dfd);
	if (!d) {
		r = hv_err(HV_E_IO, "cannot read the trusted-key directory %s: %s", trusted_dir,
			   strerror(errno));
		goto out;
	}
	dfd = -1; /* the DIR owns it */
	while ((de = readdir(d)) != NULL) {
		EVP_PKEY *k = NULL;
		uint8_t id[HVB_KEY_ID_BYTES];

		if (de->d_name[0] == '.' || !ends_with(de->d_name, ".pem"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", trusted_dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		r = load_trusted_key(dirfd(d), trusted_dir, de->d_name, &k);
		if (r == 0)
			r = key_id_of(k, path, id);
		if (r < 0) {
			EVP_PKEY_free(k);
			r = hv_err_prefix("trusted-key directory %s", trusted_dir);
			goto out;
		}
		nkeys++;
		/* Every key is read, not just up to the one that matches: a
		 * directory with a bad entry is refused whatever the order. */
		if (!found && memcmp(id, sig.key_id, HVB_KEY_ID_BYTES) == 0) {
			found = k;
			snprintf(found_path, sizeof(found_path), "%s", path);
			continue;
		}
		EVP_PKEY_free(k);
	}
	if (!found) {
		r = hv_err(HV_E_VERIFY,
			   "bundle is signed by key %s, which is not among the %u trusted keys "
			   "in %s; add its public key there only if you trust its owner",
			   hex, nkeys, trusted_dir);
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, found) != 1) {
		r = hv_err(HV_E_INTERNAL, "cannot start Ed25519 verification: %s", ossl_reason());
		goto out;
	}
	if (EVP_DigestVerify(md, sig.sig, HVB_SIG_BYTES, buf, body) != 1) {
		ERR_clear_error();
		r = hv_err(HV_E_VERIFY,
			   "bundle signature by key %s (%s) does not match the bundle's bytes: "
			   "the bundle was altered after signing or is damaged; do not apply it",
			   hex, found_path);
		goto out;
	}
	if (info) {
		memcpy(info->key_id, sig.key_id, HVB_KEY_ID_BYTES);
		snprintf(info->key_file, sizeof(info->key_file), "%s", found_path);
	}
	r = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(found);
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	return r;
}

int hvb_verify_parse(const uint8_t *buf, size_t len, const char *trusted_dir,
		     struct hvb_bundle **out, struct hvb_verify_info *info)
{
	int r;

	*out = NULL;
	r = hvb_verify(buf, len, trusted_dir, info);
	if (r == 0)
		r = hvb_parse(buf, len, out);
	return r;
}

int hvb_load_verified(const char *path, const char *trusted_dir, struct hvb_bundle **out,
		      struct hvb_verify_info *info)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	r = hvb_read_file(path, 0, &buf, &len);
	if (r < 0)
		goto out;
	r = hvb_verify_parse(buf, len, trusted_dir, out, info);
	if (r < 0)
		r = hv_err_prefix("bundle %s", path);
out:
	free(buf);
	return r;
}
