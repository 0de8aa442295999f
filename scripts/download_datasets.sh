#!/usr/bin/env bash
# Where and how to obtain each real dataset, the layout to unpack it into, and the profile to use.
# It downloads nothing by itself: three of the datasets need the authors' agreement form first,
# and the two Kaggle sets need your own Kaggle account and API token.
set -euo pipefail

DATASETS="ffpp celebdf_v2 deeperforensics kaggle_real_fake kaggle_140k"

usage() {
    cat <<'EOF'
Usage: scripts/download_datasets.sh [DATASET ...]
       scripts/download_datasets.sh --help

Prints, for each dataset (all of them when none is named), where to request or download it,
its licence terms, the folder layout to unpack into under data/raw/ and the parameter profile
that reads it. Datasets: ffpp, celebdf_v2, deeperforensics, kaggle_real_fake, kaggle_140k.

Nothing is downloaded by this script. Once a dataset is unpacked, run the notebooks with its
profile, for example:  ./run_all.sh --profile params/ffpp_c23.yaml
EOF
}

ffpp() {
    cat <<'EOF'
== FaceForensics++ (FF++) =====================================================
Request:   https://github.com/ondyari/FaceForensics  (section "Access")
           Fill in the authors' Google form and accept the terms of use; they reply by e-mail
           with their download script (named download-FaceForensics.py in
           their README; use the one they send). Then, for instance:
             python download-FaceForensics.py data/raw/FaceForensics++ -d all -c c23 -t videos
             python download-FaceForensics.py data/raw/FaceForensics++ -d all -c c40 -t videos
Licence:   research use only under the FaceForensics terms of use; the videos may not be
           redistributed (the source videos come from YouTube).
Size:      c23 about 10 GB, c40 about 2 GB, raw about 500 GB (all methods).
Splits:    the official train/val/test pairs are in the repository's dataset/splits/ folder:
           copy train.json, val.json, test.json to data/raw/FaceForensics++/splits/.
Layout:    data/raw/FaceForensics++/
             original_sequences/youtube/c23/videos/000.mp4 ... 999.mp4
             manipulated_sequences/{Deepfakes,Face2Face,FaceSwap,NeuralTextures,FaceShifter}/c23/videos/000_003.mp4 ...
             splits/{train,val,test}.json
Profile:   params/ffpp_c23.yaml  (params/ffpp_c40.yaml for the c40 videos)
EOF
}

celebdf_v2() {
    cat <<'EOF'
== Celeb-DF v2 ================================================================
Request:   https://github.com/yuezunli/celeb-deepfakeforensics
           Fill in the request form linked there; the authors send a download link.
Licence:   research and educational use only, under the Celeb-DF terms of use; no
           redistribution.
Size:      about 10 GB; 590 Celeb-real, 300 YouTube-real and 5639 Celeb-synthesis videos.
Layout:    data/raw/Celeb-DF-v2/
             Celeb-real/id0_0000.mp4 ...
             YouTube-real/00000.mp4 ...
             Celeb-synthesis/id0_id1_0000.mp4 ...
             List_of_testing_videos.txt   (lines "<label> <folder>/<file>.mp4", 1 = real, 0 = fake)
Profile:   params/celebdf_v2.yaml  (usually the cross-dataset test set of an FF++-trained model)
EOF
}

deeperforensics() {
    cat <<'EOF'
== DeeperForensics-1.0 ========================================================
Request:   https://github.com/EndlessSora/DeeperForensics-1.0  (section "Download")
           Sign and send the DeeperForensics-1.0 terms of use agreement; the authors reply with
           the download links.
Licence:   non-commercial research use only, under the DeeperForensics-1.0 terms of use.
Size:      the full release is very large (source videos in several views); the manipulated
           videos alone are about 100 GB.
Layout:    data/raw/DeeperForensics-1.0/
             source_videos/<actor, e.g. M004>/.../*.mp4
             manipulated_videos/<perturbation, e.g. end_to_end, end_to_end_level_3>/000_M101.mp4 ...
             lists/splits/{train,val,test}.txt   (optional, one video file name per line)
Profile:   params/deeperforensics.yaml if present, else a profile with
           dataset: deeperforensics and dataset_root: data/raw/DeeperForensics-1.0
EOF
}

kaggle_real_fake() {
    cat <<'EOF'
== Kaggle "deepfake and real images" (manjilkarki) ============================
Download:  https://www.kaggle.com/datasets/manjilkarki/deepfake-and-real-images
           With the Kaggle CLI (pip install kaggle; API token in ~/.kaggle/kaggle.json):
             kaggle datasets download -d manjilkarki/deepfake-and-real-images -p data/raw
             python -m deepfake_iot.data.archive data/raw/deepfake-and-real-images.zip data/raw/deepfake-and-real-images
Licence:   see the licence shown on the dataset page; check it allows your use.
Layout:    data/raw/deepfake-and-real-images/
             Dataset/{Train,Validation,Test}/{Real,Fake}/*.jpg
Profile:   params/kaggle_real_fake.yaml if present, else a profile with dataset: kaggle_real_fake,
           dataset_root: data/raw/deepfake-and-real-images, face_detector: none (face crops)
EOF
}

kaggle_140k() {
    cat <<'EOF'
== Kaggle "140k Real and Fake Faces" (xhlulu) =================================
Download:  https://www.kaggle.com/datasets/xhlulu/140k-real-and-fake-faces
           With the Kaggle CLI (pip install kaggle; API token in ~/.kaggle/kaggle.json):
             kaggle datasets download -d xhlulu/140k-real-and-fake-faces -p data/raw
             python -m deepfake_iot.data.archive data/raw/140k-real-and-fake-faces.zip data/raw/140k-real-and-fake-faces
Licence:   see the dataset page; the real faces come from FFHQ (NVIDIA, CC BY-NC-SA 4.0),
           the fakes are StyleGAN images.
Layout:    data/raw/140k-real-and-fake-faces/
             train.csv valid.csv test.csv   (columns original_path,id,label,label_str,path; label 1 = real)
             real_vs_fake/real-vs-fake/{train,valid,test}/{real,fake}/*.jpg
Profile:   params/kaggle_140k.yaml  (the images are face crops already: face_detector none)
EOF
}

main() {
    local selected=()
    for argument in "$@"; do
        case "$argument" in
            -h | --help) usage; return 0 ;;
            -*) echo "unknown option: $argument (see --help)" >&2; return 2 ;;
            *)
                if [[ " $DATASETS " != *" $argument "* ]]; then
                    echo "unknown dataset: $argument; expected one of: $DATASETS" >&2
                    return 2
                fi
                selected+=("$argument") ;;
        esac
    done
    if [[ ${#selected[@]} -eq 0 ]]; then
        read -r -a selected <<<"$DATASETS"
    fi
    for name in "${selected[@]}"; do
        "$name"
        echo
    done
    echo "Unpack into the folder shown (the dataset_root of its profile); nothing was downloaded."
    echo "Unpack archives with: python -m deepfake_iot.data.archive ARCHIVE FOLDER"
    echo "(zip or tar; it refuses members that would land outside FOLDER: '..', absolute paths, links)."
}

main "$@"
