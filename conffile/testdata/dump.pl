#!/usr/bin/perl
# dump.pl FILE
# dump.pl -
#
# Parses configuration files with Perl's Config::General, using exactly the
# option set package conffile implements (see its package documentation),
# for the Go tests to compare with (*conffile.Block).Map().
#
# dump.pl FILE prints getall() as canonical JSON on standard output and
# Config::General's warnings on standard error, each prefixed "warning: ".
# If Config::General rejects the file, the script dies: exit status 255,
# the message on standard error.
#
# dump.pl - reads file names from standard input, one a line, and for each
# prints one line of JSON: {"config":{...},"warnings":[...]} or
# {"error":"...","warnings":[...]}.
#
# Strings are printed byte for byte: every byte is one character, so a byte
# 0x80..0xff comes out as \u0080..\u00ff. (A file that starts with a UTF-8
# byte-order mark is decoded by Config::General; its strings are encoded back
# to UTF-8 bytes here, so both parsers are compared on bytes.)
use strict;
use warnings;

use Config::General 2.65;
use JSON::PP;

# The option set; keep it in step with the package documentation.
my @options = (
    -LowerCaseNames        => 1,
    -UseApacheInclude      => 0,
    -IncludeRelative       => 1,
    -IncludeGlob           => 1,
    -IncludeDirectories    => 0,
    -IncludeAgain          => 0,
    -AllowMultiOptions     => 1,
    -MergeDuplicateOptions => 0,
    -MergeDuplicateBlocks  => 0,
    -InterPolateVars       => 0,
    -InterPolateEnv        => 0,
    -SplitPolicy           => 'guess',
    -AutoTrue              => 0,
    -CComments             => 1,
    -SlashIsDirectory      => 0,
    -ApacheCompatible      => 0,
    -UseApacheIfDefine     => 0,
    -ForceArray            => 0,
    -NoEscape              => 0,
    -UTF8                  => 0,
);

my $json = JSON::PP->new->canonical(1)->ascii(1)->allow_nonref(1);

# bytes turns strings Perl holds as characters back into UTF-8 bytes.
sub bytes {
    my ($v) = @_;
    if (ref $v eq 'HASH') {
        my %h;
        for my $k (keys %$v) {
            my $bk = $k;
            utf8::encode($bk) if utf8::is_utf8($bk);
            $h{$bk} = bytes($v->{$k});
        }
        return \%h;
    }
    if (ref $v eq 'ARRAY') {
        return [ map { bytes($_) } @$v ];
    }
    return undef unless defined $v;
    my $s = "$v";
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

# parse returns (config, error, warnings).
sub parse {
    my ($file) = @_;
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my $config = eval {
        my %all = Config::General->new(-ConfigFile => $file, @options)->getall;
        bytes(\%all);
    };
    my $err = $@;
    if (!defined $config) {
        $err = "unknown error" if $err eq '';
        return (undef, $err, \@warnings);
    }
    return ($config, undef, \@warnings);
}

@ARGV == 1 or die "usage: dump.pl FILE | dump.pl -\n";

if ($ARGV[0] eq '-') {
    $| = 1;
    while (my $file = <STDIN>) {
        chomp $file;
        my ($config, $err, $warnings) = parse($file);
        my %out = (warnings => [ map { bytes($_) } @$warnings ]);
        if (defined $err) {
            $out{error} = bytes($err);
        }
        else {
            $out{config} = $config;
        }
        print $json->encode(\%out), "\n";
    }
    exit 0;
}

my ($config, $err, $warnings) = parse($ARGV[0]);
print STDERR "warning: $_" for @$warnings;
die $err if defined $err;
print $json->encode($config), "\n";
