// django-celery-beat's crontab help, moved out of an inline script (Content-Security-Policy).
'use strict';
{
    const $ = django.jQuery;
    const script = document.getElementById('periodic-task-overrides');
    const readableCrontabs = JSON.parse(document.getElementById('readable-crontabs').textContent);
    const originalHelp = script.dataset.crontabHelp;

    $('.field-crontab_translation').hide();
    $('.field-crontab').on('change', function () {
        const translation = readableCrontabs[$('#id_crontab').val()] || '';
        $('.field-crontab .help').empty().append(
            document.createTextNode(originalHelp), $('<br>'),
            document.createTextNode('Translation: ' + translation));
    });
}
