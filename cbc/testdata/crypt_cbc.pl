#!/usr/bin/perl
# Encrypts and decrypts with Perl's own Crypt::CBC, as the port-knocking
# prototype did, for the Go differential test. One request per line:
#   enc CIPHER PASSHEX IVHEX PLAINHEX   ->  CIPHERTEXTHEX
#   dec CIPHER PASSHEX IVHEX CTHEX      ->  PLAINHEX, or "error"
use strict;
use warnings;
use Crypt::CBC;
$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    my ($op, $cipher, $pass, $iv, $data) = split / /, $line;
    $data = '' unless defined $data;
    my $c = Crypt::CBC->new(
        -key         => pack('H*', $pass),
        -cipher      => $cipher,
        -iv          => pack('H*', $iv),
        -header      => 'none',
        -pbkdf       => 'randomiv',
        -nodeprecate => 1,
    );
    if ($op eq 'enc') {
        print unpack('H*', $c->encrypt(pack('H*', $data))), "\n";
    } else {
        my $out = eval { $c->decrypt(pack('H*', $data)) };
        print defined $out ? unpack('H*', $out) . "\n" : "error\n";
    }
}
