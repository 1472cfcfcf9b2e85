// Drives an IMGAPI source with Joyent's own client, as SmartOS's imgadm does
// (smartos-live src/img/lib/sources/imgapi.js), and validates manifests with imgmanifest.
// Usage: node client.js <source url> <command> [argument]; prints one JSON object.
//   ping             -> {accepted, statusCode, pong}   (accepted: imgadm's own rule)
//   list [filters]   -> {images, invalid}               (filters: a JSON object)
//   get <uuid>       -> {manifest, invalid}
//   file <uuid> [range] -> {statusCode, headers, size, sha1, md5}
// Client errors are printed as {error: {statusCode, code, message}}, exit status 0.
'use strict';
var crypto = require('crypto');
var imgapi = require('sdc-clients/lib/imgapi');
var imgmanifest = require('imgmanifest');

var url = process.argv[2], command = process.argv[3], argument = process.argv[4];
var extra = process.argv[5];
var client = imgapi.createClient({url: url, version: '~2', agent: false});

function done(result) {
    process.stdout.write(JSON.stringify(result) + '\n');
    client.close();
}

function failed(err, res) {
    done({error: {statusCode: (res && res.statusCode) || err.statusCode || null,
                  code: err.restCode || err.code || err.name, message: err.message}});
}

function invalid(manifest) {
    return imgmanifest.validateDcManifest(manifest);
}

if (command === 'ping') {
    client.ping(function (err, pong, res) {
        // imgadm's ImgapiSource.ping accepts the source only when this holds.
        var accepted = !err && res.statusCode === 200 && Boolean(pong && pong.imgapi);
        done({accepted: accepted, statusCode: res ? res.statusCode : null, pong: pong || null,
              error: err ? {statusCode: err.statusCode, message: err.message} : null});
    });
} else if (command === 'list') {
    client.listImages(argument ? JSON.parse(argument) : {}, function (err, images, res) {
        if (err) { return failed(err, res); }
        var problems = {};
        images.forEach(function (m) {
            var errs = invalid(m);
            if (errs) { problems[m.uuid] = errs; }
        });
        done({images: images, invalid: problems});
    });
} else if (command === 'get') {
    client.getImage(argument, function (err, manifest, res) {
        if (err) { return failed(err, res); }
        done({manifest: manifest, invalid: invalid(manifest)});
    });
} else if (command === 'file') {
    var options = extra ? {headers: {range: extra}} : {};
    client.getImageFileStream(argument, undefined, options, function (err, stream) {
        if (err) { return failed(err, stream); }
        var sha1 = crypto.createHash('sha1'), md5 = crypto.createHash('md5'), size = 0;
        stream.on('data', function (chunk) {
            sha1.update(chunk); md5.update(chunk); size += chunk.length;
        });
        stream.on('error', function (e) { failed(e, stream); });
        stream.on('end', function () {
            done({statusCode: stream.statusCode, headers: stream.headers, size: size,
                  sha1: sha1.digest('hex'), md5: md5.digest('base64')});
        });
        stream.resume();
    });
} else {
    process.stderr.write('unknown command ' + command + '\n');
    process.exit(2);
}
